export type DatasetErrorCode =
  | 'E_DATA_NOT_FOUND'
  | 'E_DATA_NOT_PARQUET'
  | 'E_DATA_NO_COLUMN'
  | 'E_DATA_BAD_TYPE'
  | 'E_DATA_EMPTY'
  | 'E_DATA_BAD_OPTION'
  | 'E_DATA_BAD_CURSOR';

/** A problem with a dataset file or its options; the message names the file. */
export class DatasetError extends Error {
  readonly code: DatasetErrorCode;
  readonly file?: string;
  readonly column?: string;
  constructor(code: DatasetErrorCode, message: string, options: { file?: string; column?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DatasetError';
    this.code = code;
    this.file = options.file;
    this.column = options.column;
  }
}
