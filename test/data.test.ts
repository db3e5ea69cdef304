// Parquet prompt datasets: the DAPO-Math-17k layout, other layouts, filters, errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Field, Float64, Int64, List, Struct, Table, Utf8, vectorFromArray, type DataType, type Vector } from 'apache-arrow';
import {
  loadPromptDataset,
  readParquetFile,
  tableToParquet,
  math17kTable,
  MATH17K_SCHEMA,
  DatasetError,
} from '../src/data/index.js';
import { CharTokenizer } from '../src/tokenizer/index.js';
import { fixtureRows, writeFixture } from '../scripts/make-math17k-fixture.js';

const FIXTURE = new URL('./fixtures/data/math17k-mini.parquet', import.meta.url).pathname;
let dir = '';

function writeTable(name: string, columns: Record<string, [unknown[], DataType]>): string {
  const vecs: Record<string, Vector> = {};
  for (const [k, [values, type]] of Object.entries(columns)) vecs[k] = vectorFromArray(values as never[], type);
  const file = join(dir, name);
  writeFileSync(file, tableToParquet(new Table(vecs)));
  return file;
}

async function rejectsWith(p: Promise<unknown>, code: string, ...res: RegExp[]): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof DatasetError, `expected DatasetError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const re of res) assert.match(err.message, re);
    return true;
  });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dapo-data-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('the fixture script writes exactly the DAPO-Math-17k schema and reproduces the committed file', () => {
  const out = join(dir, 'regen.parquet');
  const { rows } = writeFixture(out);
  assert.equal(rows, 36);
  const regen = readParquetFile(out).table;
  const committed = readParquetFile(FIXTURE).table;
  assert.equal(
    String(regen.schema),
    'Schema<{ 0: data_source: Utf8, 1: prompt: List<Struct<{content:Utf8, role:Utf8}>>, 2: ability: Utf8, ' +
      '3: reward_model: Struct<{ground_truth:Utf8, style:Utf8}>, 4: extra_info: Struct<{index:Utf8}> }>',
  );
  assert.equal(String(committed.schema), String(MATH17K_SCHEMA));
  assert.deepEqual(JSON.parse(JSON.stringify(regen.toArray())), JSON.parse(JSON.stringify(committed.toArray())));
  assert.deepEqual(JSON.parse(JSON.stringify(committed.get(0))), JSON.parse(JSON.stringify(fixtureRows()[0])));
});

test('DAPO-Math-17k layout by default', async () => {
  const ds = await loadPromptDataset(FIXTURE);
  assert.equal(ds.rows.length, 36);
  assert.deepEqual(ds.stats, { fileRows: 36, nullRows: 0, duplicates: 0, dropped: 0, truncated: 0, rows: 36 });
  const expected = fixtureRows();
  ds.rows.forEach((r, i) => {
    assert.equal(r.id, i);
    assert.equal(r.sourceIndex, i);
    assert.deepEqual(r.messages, expected[i].prompt);
    assert.equal(r.answer, expected[i].reward_model.ground_truth);
    assert.equal(r.dataSource, 'math_dapo');
  });
  assert.match(ds.rows[0].messages[0].content, /^Solve the following math problem step by step\..*Remember to put your answer on its own line after "Answer:"\.$/s);
});

test('dedupe, limit, extra columns', async () => {
  const ds = await loadPromptDataset(FIXTURE, { dedupe: true, extraColumns: ['extra_info.index', 'ability'] });
  assert.equal(ds.rows.length, 12);
  assert.equal(ds.stats.duplicates, 24);
  assert.deepEqual(ds.rows.map((r) => r.sourceIndex), Array.from({ length: 12 }, (_, i) => i));
  assert.equal(ds.rows[3].extra?.ability, 'MATH');
  assert.match(String(ds.rows[3].extra?.['extra_info.index']), /^[0-9a-f]{8}-[0-9a-f]{4}-4/);
  const few = await loadPromptDataset(FIXTURE, { limit: 5 });
  assert.equal(few.rows.length, 5);
  assert.equal(few.stats.fileRows, 5);
});

test('maxPromptLen: drop or left-truncate, with counts', async () => {
  // Token length = characters, through a fake encoder (the char tokenizer lacks these letters).
  const encodePrompt = (m: { content: string }[]) => Int32Array.from(Array.from(m.map((x) => x.content).join('\n'), (c) => c.charCodeAt(0)));
  const lens = (await loadPromptDataset(FIXTURE, { encodePrompt, dedupe: true })).rows.map((r) => r.promptIds!.length);
  const cut = [...lens].sort((a, b) => a - b)[6];
  const dropped = await loadPromptDataset(FIXTURE, { encodePrompt, dedupe: true, maxPromptLen: cut });
  assert.equal(dropped.stats.dropped, lens.filter((l) => l > cut).length);
  assert.ok(dropped.stats.dropped > 0);
  assert.equal(dropped.rows.length + dropped.stats.dropped, 12);
  assert.ok(dropped.rows.every((r) => r.promptIds!.length <= cut));
  assert.deepEqual(dropped.rows.map((r) => r.id), dropped.rows.map((_, i) => i));
  const trunc = await loadPromptDataset(FIXTURE, { encodePrompt, dedupe: true, maxPromptLen: cut, overlongPrompt: 'left-truncate' });
  assert.equal(trunc.rows.length, 12);
  assert.equal(trunc.stats.truncated, dropped.stats.dropped);
  const r = trunc.rows.find((x) => x.truncated)!;
  const full = encodePrompt(r.messages);
  assert.deepEqual(r.promptIds, full.slice(full.length - cut)); // keeps the end of the prompt
  await rejectsWith(loadPromptDataset(FIXTURE, { maxPromptLen: 10 }), 'E_DATA_BAD_OPTION', /encodePrompt/);
  await rejectsWith(loadPromptDataset(FIXTURE, { encodePrompt, maxPromptLen: 1 }), 'E_DATA_EMPTY', /math17k-mini\.parquet/, /no rows left/, /36 longer than maxPromptLen 1/);
  await rejectsWith(loadPromptDataset(FIXTURE, { encodePrompt, maxPromptLen: 10, overlongPrompt: 'cut' as never }), 'E_DATA_BAD_OPTION', /drop, left-truncate/);
});

test('plain string prompts, instruction template, system prompt, numeric answers, nulls', async () => {
  const file = writeTable('plain.parquet', {
    question: [['1+1=', '2+3=', null, '2+3=', '9-4='], new Utf8()],
    answer: [[2n, 5n, 1n, 5n, null], new Int64()],
    score: [[1.5, 2, 3, 4, 5], new Float64()],
  });
  const ds = await loadPromptDataset(file, { inputKey: 'question', answerKey: 'answer', instruction: 'Q: {question}\nAnswer:', dedupe: true });
  assert.deepEqual(ds.rows.map((r) => r.messages), [[{ role: 'user', content: 'Q: 1+1=\nAnswer:' }], [{ role: 'user', content: 'Q: 2+3=\nAnswer:' }]]);
  assert.deepEqual(ds.rows.map((r) => r.answer), ['2', '5']);
  assert.deepEqual(ds.stats, { fileRows: 5, nullRows: 2, duplicates: 1, dropped: 0, truncated: 0, rows: 2 });
  const sys = await loadPromptDataset(file, { inputKey: 'question', answerKey: 'score', systemPrompt: 'Be exact.' });
  assert.deepEqual(sys.rows[0].messages, [{ role: 'system', content: 'Be exact.' }, { role: 'user', content: '1+1=' }]);
  assert.equal(sys.rows[0].answer, '1.5');
  await rejectsWith(loadPromptDataset(file, { inputKey: 'question', answerKey: 'answer', instruction: 'no placeholder' }), 'E_DATA_BAD_OPTION', /\{question\}/);
  // The char tokenizer as encodePrompt.
  const tok = new CharTokenizer();
  const enc = await loadPromptDataset(file, { inputKey: 'question', answerKey: 'answer', encodePrompt: (m) => tok.encodeChatSync(m) });
  assert.equal(await tok.decode(enc.rows[0].promptIds!), '<bos>1+1=');
});

test('instruction template applies to the last user message of chat prompts', async () => {
  const file = join(dir, 'chat.parquet');
  const rows = fixtureRows({ problems: 2, repeat: 1 });
  rows[0].prompt = [{ role: 'system', content: 'sys' }, { role: 'user', content: 'q1' }];
  writeFileSync(file, tableToParquet(math17kTable(rows)));
  const ds = await loadPromptDataset(file, { instruction: '{question} (think)' });
  assert.deepEqual(ds.rows[0].messages, [{ role: 'system', content: 'sys' }, { role: 'user', content: 'q1 (think)' }]);
});

test('bad files and columns: clear errors naming the file and what is there', async () => {
  await rejectsWith(loadPromptDataset(join(dir, 'missing.parquet')), 'E_DATA_NOT_FOUND', /missing\.parquet/);
  await rejectsWith(loadPromptDataset(dir), 'E_DATA_NOT_FOUND', /not a file/);
  const text = join(dir, 'notes.parquet');
  writeFileSync(text, 'question,answer\n1+1,2\n');
  await rejectsWith(loadPromptDataset(text), 'E_DATA_NOT_PARQUET', /notes\.parquet is not a parquet file/);
  const corrupt = join(dir, 'corrupt.parquet');
  const good = readFileSync(FIXTURE);
  const bytes = Buffer.concat([good.subarray(0, 4), Buffer.alloc(64, 7), good.subarray(good.length - 4)]);
  writeFileSync(corrupt, bytes);
  await rejectsWith(loadPromptDataset(corrupt), 'E_DATA_NOT_PARQUET', /corrupt\.parquet/);

  await rejectsWith(
    loadPromptDataset(FIXTURE, { inputKey: 'question' }),
    'E_DATA_NO_COLUMN',
    /math17k-mini\.parquet: no input column "question"/,
    /columns: data_source \(Utf8\), prompt \(List<Struct<\{content:Utf8, role:Utf8\}>>\), ability \(Utf8\), reward_model/,
  );
  await rejectsWith(loadPromptDataset(FIXTURE, { answerKey: 'reward_model.answer' }), 'E_DATA_NO_COLUMN', /fields of reward_model: ground_truth \(Utf8\), style \(Utf8\)/);
  await rejectsWith(loadPromptDataset(FIXTURE, { answerKey: 'reward_model' }), 'E_DATA_BAD_TYPE', /answer column "reward_model" has type Struct/, /reward_model\.ground_truth/);
  await rejectsWith(loadPromptDataset(FIXTURE, { answerKey: 'ability.x' }), 'E_DATA_BAD_TYPE', /"ability" is Utf8, not a struct/);
  await rejectsWith(loadPromptDataset(FIXTURE, { inputKey: 'reward_model' }), 'E_DATA_BAD_TYPE', /input column "reward_model" has type Struct/);
  await rejectsWith(loadPromptDataset(FIXTURE, { answerKey: 'prompt' }), 'E_DATA_BAD_TYPE', /answer column "prompt" has type List/);

  const wrongStruct = writeTable('wrong-struct.parquet', {
    prompt: [[[{ text: 'hi', speaker: 'user' }]], new List(new Field('item', new Struct([new Field('text', new Utf8()), new Field('speaker', new Utf8())]), true))],
    answer: [['1'], new Utf8()],
  });
  await rejectsWith(loadPromptDataset(wrongStruct, { answerKey: 'answer' }), 'E_DATA_BAD_TYPE', /wrong-struct\.parquet: input column "prompt" is a list of structs with fields \[text, speaker\]/);

  const allNull = writeTable('nulls.parquet', { q: [[null, null], new Utf8()], a: [['1', '2'], new Utf8()] });
  await rejectsWith(loadPromptDataset(allNull, { inputKey: 'q', answerKey: 'a' }), 'E_DATA_EMPTY', /nulls\.parquet: no rows left after filtering \(2 read, 2 null/);
  const empty = writeTable('empty.parquet', { q: [[], new Utf8()], a: [[], new Utf8()] });
  await rejectsWith(loadPromptDataset(empty, { inputKey: 'q', answerKey: 'a' }), 'E_DATA_EMPTY', /empty\.parquet has no rows/);
});
