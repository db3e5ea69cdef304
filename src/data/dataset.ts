// Prompt datasets from parquet: DAPO-Math-17k's layout by default (prompt: list of
// {role, content}, answer at reward_model.ground_truth), other layouts by dot paths.
import { resolve } from 'node:path';
import { DataType, type Field, type Schema, type Table, type Vector } from 'apache-arrow';
import type { ChatMessage } from '../tokenizer/types.js';
import { DatasetError } from './errors.js';
import { readParquetFile, readParquetSchema } from './parquet.js';

export const DEFAULT_INPUT_KEY = 'prompt';
export const DEFAULT_ANSWER_KEY = 'reward_model.ground_truth';
/** The instruction DAPO-Math-17k's prompts already carry, for datasets with bare questions. */
export const DAPO_MATH_INSTRUCTION =
  'Solve the following math problem step by step. The last line of your response should be of the form ' +
  'Answer: $Answer (without quotes) where $Answer is the answer to the problem.\n\n{question}\n\n' +
  'Remember to put your answer on its own line after "Answer:".';

export const OVERLONG_PROMPT_POLICIES = ['drop', 'left-truncate'] as const;
export type OverlongPromptPolicy = (typeof OVERLONG_PROMPT_POLICIES)[number];

export interface LoadDatasetOptions {
  /** Column with the prompt: a string, or a list of {role, content}. Dot path into structs. */
  inputKey?: string;
  /** Column with the ground-truth answer (string or number). Dot path into structs. */
  answerKey?: string;
  /**
   * Wraps the question: every "{question}" is replaced by the prompt text (for chat
   * prompts, the content of the last user message).
   */
  instruction?: string;
  /** A system message put in front of every prompt. */
  systemPrompt?: string;
  /** Keep only the first row of each distinct prompt (DAPO-Math-17k repeats each ~100x). */
  dedupe?: boolean;
  /** Renders and tokenizes a prompt, e.g. `(m) => tokenizer.encodeChat(m)`; fills row.promptIds. */
  encodePrompt?: (messages: ChatMessage[]) => Int32Array | Promise<Int32Array>;
  /** Longest prompt in tokens (needs encodePrompt). */
  maxPromptLen?: number;
  /** What to do with longer prompts: drop the row (default) or keep its last maxPromptLen tokens. */
  overlongPrompt?: OverlongPromptPolicy;
  /** More columns to carry on each row as plain JS values (row.extra); data_source always is when present. */
  extraColumns?: string[];
  /** Read at most this many file rows (before filtering), for quick runs. */
  limit?: number;
}

export interface PromptRow {
  /** Position in the filtered dataset, 0..rows.length-1 (what the sampler hands out). */
  id: number;
  /** Row number in the parquet file. */
  sourceIndex: number;
  messages: ChatMessage[];
  answer: string;
  /** Prompt token ids (when encodePrompt was given), after any left truncation. */
  promptIds?: Int32Array;
  /** Whether promptIds was left-truncated to maxPromptLen. */
  truncated?: boolean;
  dataSource?: string;
  extra?: Record<string, unknown>;
}

export interface DatasetStats {
  /** Rows read from the file. */
  fileRows: number;
  /** Rows skipped because the prompt or answer was null. */
  nullRows: number;
  /** Rows dropped as repeats of an earlier prompt (dedupe). */
  duplicates: number;
  /** Rows dropped for being longer than maxPromptLen (policy 'drop'). */
  dropped: number;
  /** Rows left-truncated to maxPromptLen (policy 'left-truncate'). */
  truncated: number;
  /** Rows kept. */
  rows: number;
}

export interface PromptDataset {
  file: string;
  inputKey: string;
  answerKey: string;
  rows: PromptRow[];
  stats: DatasetStats;
}

type Kind = 'string' | 'number' | 'messages';

interface ResolvedColumn {
  path: string;
  top: string;
  rest: string[];
  type: DataType;
}

function typeName(t: DataType): string {
  return String(t);
}

function fieldNames(fields: readonly Field[]): string {
  return fields.map((f) => `${f.name} (${typeName(f.type)})`).join(', ');
}

/** Find a dot path in the schema; a column whose own name contains dots wins. */
function resolvePath(schema: Schema, path: string, file: string, what: string): ResolvedColumn {
  const exact = schema.fields.find((f) => f.name === path);
  if (exact) return { path, top: path, rest: [], type: exact.type };
  const parts = path.split('.');
  let fields: readonly Field[] = schema.fields;
  let type: DataType | undefined;
  for (let i = 0; i < parts.length; i++) {
    const f = fields.find((x) => x.name === parts[i]);
    if (!f) {
      const where = i === 0 ? `columns: ${fieldNames(schema.fields)}` : `fields of ${parts.slice(0, i).join('.')}: ${fieldNames(fields)}`;
      throw new DatasetError('E_DATA_NO_COLUMN', `${file}: no ${what} column "${path}" (${where})`, { file, column: path });
    }
    type = f.type;
    if (i < parts.length - 1) {
      if (!DataType.isStruct(f.type)) {
        throw new DatasetError('E_DATA_BAD_TYPE', `${file}: ${what} column "${path}": "${parts.slice(0, i + 1).join('.')}" is ${typeName(f.type)}, not a struct`, { file, column: path });
      }
      fields = f.type.children;
    }
  }
  return { path, top: parts[0], rest: parts.slice(1), type: type! };
}

function isString(t: DataType): boolean {
  return DataType.isUtf8(t) || DataType.isLargeUtf8(t);
}

function classifyInput(col: ResolvedColumn, file: string): Kind {
  const t = col.type;
  if (isString(t)) return 'string';
  if (DataType.isList(t) || DataType.isLargeList?.(t)) {
    const item = (t as { children: Field[] }).children[0]?.type;
    if (item && DataType.isStruct(item)) {
      const names = item.children.map((c) => c.name);
      const ok = ['role', 'content'].every((n) => item.children.some((c) => c.name === n && isString(c.type)));
      if (ok) return 'messages';
      throw new DatasetError(
        'E_DATA_BAD_TYPE',
        `${file}: input column "${col.path}" is a list of structs with fields [${names.join(', ')}]; chat prompts need string fields "role" and "content"`,
        { file, column: col.path },
      );
    }
  }
  const hint = DataType.isStruct(t) ? `; its fields: ${fieldNames(t.children)} (use a dot path, e.g. ${col.path}.${t.children[0]?.name})` : '';
  throw new DatasetError(
    'E_DATA_BAD_TYPE',
    `${file}: input column "${col.path}" has type ${typeName(t)}; expected a string or a list of {role, content} structs${hint}`,
    { file, column: col.path },
  );
}

function classifyAnswer(col: ResolvedColumn, file: string): Kind {
  const t = col.type;
  if (isString(t)) return 'string';
  if (DataType.isInt(t) || DataType.isFloat(t) || DataType.isDecimal(t) || DataType.isBool(t)) return 'number';
  const hint = DataType.isStruct(t) ? `; its fields: ${fieldNames(t.children)} (use a dot path, e.g. ${col.path}.${t.children[0]?.name})` : '';
  throw new DatasetError(
    'E_DATA_BAD_TYPE',
    `${file}: answer column "${col.path}" has type ${typeName(t)}; expected a string or a number${hint}`,
    { file, column: col.path },
  );
}

function columnVector(table: Table, col: ResolvedColumn): Vector {
  let v = table.getChild(col.top) as Vector | null;
  for (const name of col.rest) v = v ? ((v as Vector).getChild(name) as Vector | null) : null;
  if (!v) throw new Error(`internal: column ${col.path} vanished after reading`);
  return v;
}

function toMessages(value: unknown): ChatMessage[] | null {
  if (value === null || value === undefined) return null;
  const out: ChatMessage[] = [];
  for (const m of value as Iterable<{ role: string | null; content: string | null } | null>) {
    if (!m || m.role == null || m.content == null) return null;
    out.push({ role: m.role, content: m.content });
  }
  return out;
}

function applyInstruction(messages: ChatMessage[], instruction: string): ChatMessage[] {
  let last = -1;
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === 'user') { last = i; break; }
  if (last < 0) last = messages.length - 1;
  if (last < 0) return messages;
  return messages.map((m, i) => (i === last ? { role: m.role, content: instruction.split('{question}').join(m.content) } : m));
}

function plainValue(v: unknown): unknown {
  if (v === null || v === undefined) return v ?? null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return plainValue((v as { toJSON(): unknown }).toJSON());
  if (Array.isArray(v)) return v.map(plainValue);
  if (typeof v === 'object' && !(v instanceof Uint8Array)) {
    return Object.fromEntries(Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, plainValue(x)]));
  }
  return v;
}

function checkOptions(o: LoadDatasetOptions): void {
  if (o.instruction !== undefined && !o.instruction.includes('{question}')) {
    throw new DatasetError('E_DATA_BAD_OPTION', `instruction template must contain "{question}": ${JSON.stringify(o.instruction)}`);
  }
  if (o.maxPromptLen !== undefined) {
    if (!Number.isInteger(o.maxPromptLen) || o.maxPromptLen <= 0) throw new DatasetError('E_DATA_BAD_OPTION', `maxPromptLen must be a positive integer, got ${o.maxPromptLen}`);
    if (!o.encodePrompt) throw new DatasetError('E_DATA_BAD_OPTION', 'maxPromptLen needs encodePrompt (a tokenizer) to measure prompts');
  }
  if (o.overlongPrompt !== undefined && !OVERLONG_PROMPT_POLICIES.includes(o.overlongPrompt)) {
    throw new DatasetError('E_DATA_BAD_OPTION', `overlongPrompt must be one of ${OVERLONG_PROMPT_POLICIES.join(', ')}, got ${JSON.stringify(o.overlongPrompt)}`);
  }
  if (o.limit !== undefined && (!Number.isInteger(o.limit) || o.limit <= 0)) throw new DatasetError('E_DATA_BAD_OPTION', `limit must be a positive integer, got ${o.limit}`);
}

/**
 * Read a parquet prompt dataset. Rows with a null prompt or answer are skipped, repeats
 * dropped with `dedupe`, prompts measured and dropped or left-truncated with
 * `maxPromptLen`; every count is in `stats`. Throws DatasetError naming the file.
 */
export async function loadPromptDataset(path: string, options: LoadDatasetOptions = {}): Promise<PromptDataset> {
  checkOptions(options);
  const inputKey = options.inputKey ?? DEFAULT_INPUT_KEY;
  const answerKey = options.answerKey ?? DEFAULT_ANSWER_KEY;
  const file = resolve(path);
  const schema = readParquetSchema(file);
  const input = resolvePath(schema, inputKey, file, 'input');
  const answer = resolvePath(schema, answerKey, file, 'answer');
  const inputKind = classifyInput(input, file);
  const answerKind = classifyAnswer(answer, file);
  const hasSource = schema.fields.some((f) => f.name === 'data_source');
  // verl's layout carries an extra_info struct; its reward functions take it as an argument.
  const hasExtraInfo = schema.fields.some((f) => f.name === 'extra_info');
  const extraNames = [...new Set([...(options.extraColumns ?? []), ...(hasExtraInfo ? ['extra_info'] : [])])];
  const extras = extraNames.map((c) => resolvePath(schema, c, file, 'extra'));
  const tops = [...new Set([input.top, answer.top, ...(hasSource ? ['data_source'] : []), ...extras.map((e) => e.top)])];

  const { table } = readParquetFile(file, tops);
  const fileRows = options.limit === undefined ? table.numRows : Math.min(options.limit, table.numRows);
  if (table.numRows === 0) throw new DatasetError('E_DATA_EMPTY', `${file} has no rows`, { file });

  const inVec = columnVector(table, input);
  const ansVec = columnVector(table, answer);
  const srcVec = hasSource ? (table.getChild('data_source') as Vector) : null;
  const extraVecs = extras.map((e) => [e.path, columnVector(table, e)] as const);

  const stats: DatasetStats = { fileRows, nullRows: 0, duplicates: 0, dropped: 0, truncated: 0, rows: 0 };
  const seen = new Set<string>();
  const rows: PromptRow[] = [];
  for (let i = 0; i < fileRows; i++) {
    const rawIn = inVec.get(i) as unknown;
    const rawAns = ansVec.get(i) as unknown;
    let messages = inputKind === 'messages' ? toMessages(rawIn) : rawIn == null ? null : [{ role: 'user', content: String(rawIn) }];
    if (!messages || messages.length === 0 || rawAns === null || rawAns === undefined) {
      stats.nullRows++;
      continue;
    }
    if (options.instruction !== undefined) messages = applyInstruction(messages, options.instruction);
    if (options.systemPrompt !== undefined) messages = [{ role: 'system', content: options.systemPrompt }, ...messages];
    if (options.dedupe) {
      const key = JSON.stringify(messages);
      if (seen.has(key)) {
        stats.duplicates++;
        continue;
      }
      seen.add(key);
    }
    const row: PromptRow = { id: -1, sourceIndex: i, messages, answer: answerKind === 'number' ? String(plainValue(rawAns)) : String(rawAns) };
    const src = srcVec?.get(i);
    if (src != null) row.dataSource = String(src);
    if (extraVecs.length) row.extra = Object.fromEntries(extraVecs.map(([name, v]) => [name, plainValue(v.get(i))]));
    rows.push(row);
  }

  let kept = rows;
  if (options.encodePrompt) kept = await measurePrompts(rows, options, stats);
  kept.forEach((r, id) => (r.id = id));
  stats.rows = kept.length;
  if (kept.length === 0) {
    throw new DatasetError(
      'E_DATA_EMPTY',
      `${file}: no rows left after filtering (${fileRows} read, ${stats.nullRows} null, ${stats.duplicates} duplicates, ` +
        `${stats.dropped} longer than maxPromptLen ${options.maxPromptLen ?? ''})`.replace(' )', ')'),
      { file },
    );
  }
  return { file, inputKey, answerKey, rows: kept, stats };
}

async function measurePrompts(rows: PromptRow[], options: LoadDatasetOptions, stats: DatasetStats): Promise<PromptRow[]> {
  const encode = options.encodePrompt!;
  const max = options.maxPromptLen;
  const policy = options.overlongPrompt ?? 'drop';
  const kept: PromptRow[] = [];
  const CHUNK = 256; // bounded concurrency for async tokenizers
  for (let start = 0; start < rows.length; start += CHUNK) {
    const chunk = rows.slice(start, start + CHUNK);
    const ids = await Promise.all(chunk.map((r) => encode(r.messages)));
    chunk.forEach((row, k) => {
      let p = ids[k];
      if (!(p instanceof Int32Array)) p = Int32Array.from(p as ArrayLike<number>);
      if (max !== undefined && p.length > max) {
        if (policy === 'drop') {
          stats.dropped++;
          return;
        }
        p = p.slice(p.length - max);
        row.truncated = true;
        stats.truncated++;
      }
      row.promptIds = p;
      kept.push(row);
    });
  }
  return kept;
}
