// Parquet in and out through parquet-wasm, as apache-arrow tables (Arrow IPC between them).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { tableFromIPC, tableToIPC, type Schema, type Table } from 'apache-arrow';
import * as parquet from 'parquet-wasm/node';
import { DatasetError } from './errors.js';

const PARQUET_MAGIC = 'PAR1';

function readBytes(path: string): { file: string; bytes: Uint8Array } {
  const file = resolve(path);
  if (!existsSync(file)) throw new DatasetError('E_DATA_NOT_FOUND', `dataset file not found: ${file}`, { file });
  if (!statSync(file).isFile()) throw new DatasetError('E_DATA_NOT_FOUND', `dataset path is not a file: ${file}`, { file });
  const bytes = new Uint8Array(readFileSync(file));
  const magic = (a: number) => String.fromCharCode(...bytes.subarray(a, a + 4));
  if (bytes.length < 12 || magic(0) !== PARQUET_MAGIC || magic(bytes.length - 4) !== PARQUET_MAGIC) {
    throw new DatasetError('E_DATA_NOT_PARQUET', `${file} is not a parquet file (no PAR1 magic at its start and end; ${bytes.length} bytes)`, { file });
  }
  return { file, bytes };
}

function wasmError(file: string, what: string, err: unknown): DatasetError {
  return new DatasetError('E_DATA_NOT_PARQUET', `${file}: cannot ${what} parquet: ${err instanceof Error ? err.message : String(err)}`, { file, cause: err });
}

/** The Arrow schema of a parquet file, without reading its data. */
export function readParquetSchema(path: string): Schema {
  const { file, bytes } = readBytes(path);
  try {
    return tableFromIPC(parquet.readSchema(bytes).intoIPCStream()).schema;
  } catch (err) {
    throw wasmError(file, 'read the schema of', err);
  }
}

/** Read a parquet file (optionally only some top-level columns) into an Arrow table. */
export function readParquetFile(path: string, columns?: string[]): { file: string; table: Table } {
  const { file, bytes } = readBytes(path);
  try {
    const wasmTable = parquet.readParquet(bytes, columns ? { columns } : undefined);
    return { file, table: tableFromIPC(wasmTable.intoIPCStream()) };
  } catch (err) {
    throw wasmError(file, 'read', err);
  }
}

/** Encode an Arrow table as parquet bytes (snappy-compressed, like pandas/pyarrow write). */
export function tableToParquet(table: Table): Uint8Array {
  const props = new parquet.WriterPropertiesBuilder().setCompression(parquet.Compression.SNAPPY).build();
  return parquet.writeParquet(parquet.Table.fromIPCStream(tableToIPC(table, 'stream')), props);
}
