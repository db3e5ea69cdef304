// --logger tensorboard: the event files read back with an independent TFRecord reader (bitwise
// CRC32C) and decode with the official tensorboard .proto schema (vendored in
// test/fixtures/tensorboard-proto), as TensorBoard's own loader reads them.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import protobuf from 'protobufjs';

import { MetricsLog } from '../src/train/metrics.js';
import { maskedCrc32c, metricSinks, TensorBoardWriter } from '../src/train/tensorboard.js';
import { crc32cBitwise, maskCrc, readTfRecords } from './helpers/tfrecord.js';

const work = mkdtempSync(join(tmpdir(), 'dapo-tb-'));
after(() => rmSync(work, { recursive: true, force: true }));

const protoRoot = fileURLToPath(new URL('./fixtures/tensorboard-proto/', import.meta.url));

function officialEventType(): protobuf.Type {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => resolve(protoRoot, target);
  root.loadSync('tensorboard/compat/proto/event.proto', { keepCase: true });
  return root.lookupType('tensorboard.Event');
}

interface DecodedEvent {
  wall_time: number;
  step?: number;
  file_version?: string;
  summary?: { value: Array<{ tag: string; simple_value: number }> };
  session_log?: { status: string };
  source_metadata?: { writer: string };
}

function readEvents(file: string): DecodedEvent[] {
  const Event = officialEventType();
  return readTfRecords(readFileSync(file)).map(
    (payload) => Event.toObject(Event.decode(payload), { longs: Number, enums: String, defaults: false }) as DecodedEvent,
  );
}

describe('CRC32C', () => {
  test('the test reader\'s bitwise CRC32C matches the published check values', () => {
    // RFC 3720 B.4 and the CRC catalogue's check value for "123456789".
    assert.equal(crc32cBitwise(new TextEncoder().encode('123456789')), 0xe3069283);
    assert.equal(crc32cBitwise(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32cBitwise(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32cBitwise(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  });

  test('the writer\'s masked CRC equals the reader\'s on random bytes', () => {
    for (let n = 0; n < 300; n += 7) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 2654435761 + n) & 0xff);
      assert.equal(maskedCrc32c(bytes), maskCrc(crc32cBitwise(bytes)), `length ${n}`);
    }
  });
});

describe('TensorBoardWriter', () => {
  test('writes a file TensorBoard finds and reads: version event, then scalars per step', () => {
    const dir = join(work, 'run1');
    const writer = new TensorBoardWriter(dir);
    writer.scalars(1, { step: 1, 'train/score_mean': -0.5, 'actor/lr': 1e-6, 'val/acc': Number.NaN });
    writer.scalars(2, { step: 2, 'train/score_mean': 0.25, 'actor/lr': 2e-6 });
    const files = readdirSync(dir);
    assert.equal(files.length, 1);
    assert.match(files[0], /^events\.out\.tfevents\.\d{10}\.[^.]+/);
    const events = readEvents(join(dir, files[0]));
    assert.equal(events[0].file_version, 'brain.Event:2');
    assert.equal(events[0].source_metadata?.writer, 'dapo');
    assert.ok(Math.abs(events[0].wall_time - Date.now() / 1000) < 60);
    // The first scalars start the session (TensorBoard's first START marks a run's beginning).
    assert.deepEqual([events[1].step, events[1].session_log?.status], [1, 'START']);
    const scalars = events.filter((e) => e.summary).map((e) => [e.step, Object.fromEntries(e.summary!.value.map((v) => [v.tag, v.simple_value]))]);
    assert.deepEqual(scalars, [
      [1, { 'train/score_mean': -0.5, 'actor/lr': Math.fround(1e-6) }],
      [2, { 'train/score_mean': 0.25, 'actor/lr': Math.fround(2e-6) }],
    ]);
  });

  test('a resume writes a START at its first step so TensorBoard drops the stale steps', () => {
    const dir = join(work, 'run2');
    const log = new MetricsLog(join(work, 'run2-metrics.jsonl'), metricSinks({ logger: 'tensorboard' }, dir));
    log.append({ step: 1, x: 1 });
    log.append({ step: 2, x: 2 });
    log.append({ step: 3, x: 3 });
    const resumed = new MetricsLog(join(work, 'run2-metrics.jsonl'), metricSinks({ logger: 'tensorboard' }, dir));
    resumed.truncateAfter(2);
    resumed.append({ step: 3, x: 30 });
    const files = readdirSync(join(dir, 'tensorboard')).sort();
    assert.equal(files.length, 2, 'one file per process session');
    const second = readEvents(join(dir, 'tensorboard', files[1]));
    assert.deepEqual(second.filter((e) => e.session_log).map((e) => [e.step, e.session_log!.status]), [[3, 'START']]);
    assert.deepEqual(second.filter((e) => e.summary).map((e) => [e.step, e.summary!.value[0].simple_value]), [[3, 30]]);
    assert.deepEqual(readFileSync(join(work, 'run2-metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).x), [1, 2, 30]);
  });

  test('a corrupted byte fails the reader\'s checksum (the test reader checks)', () => {
    const dir = join(work, 'run3');
    const writer = new TensorBoardWriter(dir);
    writer.scalars(1, { a: 1 });
    const bytes = readFileSync(writer.file);
    bytes[bytes.length - 6] ^= 1;
    assert.throws(() => readTfRecords(bytes), /bad payload checksum/);
  });

  test('--logger console writes no event files', () => {
    assert.deepEqual(metricSinks({ logger: 'console' }, join(work, 'none')), []);
  });
});
