// Data: parquet prompt datasets, their order and cursor, the DAPO-Math-17k schema.
export { loadPromptDataset, DEFAULT_INPUT_KEY, DEFAULT_ANSWER_KEY, DAPO_MATH_INSTRUCTION, OVERLONG_PROMPT_POLICIES } from './dataset.js';
export type { LoadDatasetOptions, PromptRow, PromptDataset, DatasetStats, OverlongPromptPolicy } from './dataset.js';
export { PromptSampler } from './sampler.js';
export type { DataCursor, SamplerOptions } from './sampler.js';
export { Rng, shuffleInPlace, epochPermutation } from './rng.js';
export { readParquetFile, readParquetSchema, tableToParquet } from './parquet.js';
export { MATH17K_SCHEMA, math17kTable, math17kPrompt } from './math17k.js';
export type { Math17kRow } from './math17k.js';
export { DatasetError } from './errors.js';
export type { DatasetErrorCode } from './errors.js';
