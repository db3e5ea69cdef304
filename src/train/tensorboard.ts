// --logger tensorboard: each metrics row also goes to a TensorBoard event file, as verl's
// trainer.logger=['tensorboard'] and PyTorch's SummaryWriter write them.
//
// The file is a TFRecord stream: per record, the payload length (uint64 little-endian), the
// masked CRC32C of those 8 bytes, the payload, the masked CRC32C of the payload. Each payload
// is a serialized tensorboard.Event (tensorboard/compat/proto/event.proto): the first carries
// file_version "brain.Event:2"; each step is one Event with a Summary of scalar values
// (simple_value, a float, as SummaryWriter.add_scalar writes them). The protobuf encoding is
// protobufjs's, from the schema below (the official field numbers of the messages used).
import { appendFileSync, mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

// crc-32's CRC32C entry point (SheetJS; its typings, those of the CRC-32 entry, have the same
// buf()). A static import, so that bundlers (scripts/cuda-device-bundle.sh) carry it along: a
// require() made at run time was left out of the bundle, and --logger tensorboard failed there.
import crc32c from 'crc-32/crc32c.js';
import protobuf from 'protobufjs';

import type { Metrics } from './metrics.js';

/** The subset of tensorboard/compat/proto/{event,summary}.proto that dapo writes. */
const SCHEMA = {
  nested: {
    tensorboard: {
      nested: {
        Event: {
          oneofs: { what: { oneof: ['file_version', 'summary', 'session_log'] } },
          fields: {
            wall_time: { type: 'double', id: 1 },
            step: { type: 'int64', id: 2 },
            file_version: { type: 'string', id: 3 },
            summary: { type: 'Summary', id: 5 },
            session_log: { type: 'SessionLog', id: 7 },
            source_metadata: { type: 'SourceMetadata', id: 10 },
          },
        },
        SourceMetadata: { fields: { writer: { type: 'string', id: 1 } } },
        SessionLog: {
          fields: { status: { type: 'SessionStatus', id: 1 }, checkpoint_path: { type: 'string', id: 2 }, msg: { type: 'string', id: 3 } },
          nested: { SessionStatus: { values: { STATUS_UNSPECIFIED: 0, START: 1, STOP: 2, CHECKPOINT: 3 } } },
        },
        Summary: {
          fields: { value: { rule: 'repeated', type: 'Value', id: 1 } },
          nested: {
            Value: {
              oneofs: { value: { oneof: ['simple_value'] } },
              fields: { tag: { type: 'string', id: 1 }, simple_value: { type: 'float', id: 2 } },
            },
          },
        },
      },
    },
  },
};

const Event = protobuf.Root.fromJSON(SCHEMA).lookupType('tensorboard.Event');
const SESSION_START = 1;

/** TFRecord's checksum: CRC32C, rotated right by 15 bits and offset, so CRCs of CRCs stay apart. */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c.buf(bytes) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, its masked CRC, the payload, its masked CRC. */
export function tfRecord(payload: Uint8Array): Buffer {
  const header = Buffer.alloc(12);
  header.writeBigUInt64LE(BigInt(payload.length), 0);
  header.writeUInt32LE(maskedCrc32c(header.subarray(0, 8)), 8);
  const footer = Buffer.alloc(4);
  footer.writeUInt32LE(maskedCrc32c(payload), 0);
  return Buffer.concat([header, payload, footer]);
}

let filesThisProcess = 0;

/**
 * Appends events to one new file in `logdir`, named as TensorBoard's own writer names them
 * (events.out.tfevents.<seconds>.<host>.<pid>.<n>), so TensorBoard finds it there.
 */
export class TensorBoardWriter {
  readonly file: string;
  private started = false;

  constructor(readonly logdir: string) {
    mkdirSync(logdir, { recursive: true });
    const seconds = String(Math.floor(Date.now() / 1000)).padStart(10, '0');
    this.file = join(logdir, `events.out.tfevents.${seconds}.${hostname()}.${process.pid}.${filesThisProcess++}`);
    this.write({ wall_time: Date.now() / 1000, file_version: 'brain.Event:2', source_metadata: { writer: 'dapo' } });
  }

  private write(event: Record<string, unknown>): void {
    const message = Event.fromObject(event);
    appendFileSync(this.file, tfRecord(Event.encode(message).finish()));
  }

  /** The finite numbers of a metrics row as scalars at its step; `step` itself is not a scalar. */
  scalars(step: number, values: Metrics, wallTime = Date.now() / 1000): void {
    const value = Object.entries(values)
      .filter(([tag, v]) => tag !== 'step' && typeof v === 'number' && Number.isFinite(v))
      .map(([tag, v]) => ({ tag, simple_value: v }));
    if (value.length === 0) return;
    if (!this.started) this.restartAt(step);
    this.write({ wall_time: wallTime, step, summary: { value } });
  }

  /**
   * A session starts at `step`. TensorBoard takes a run's first SessionLog START as its start
   * and each later one as a restart that drops the events of steps >= `step` written before
   * (its "purge orphaned data"): a resumed run calls this with its first step, so what the
   * stopped run had logged past its checkpoint disappears as it does from metrics.jsonl.
   */
  restartAt(step: number): void {
    this.started = true;
    this.write({ wall_time: Date.now() / 1000, step, session_log: { status: SESSION_START } });
  }
}

/** The extra loggers a run's --logger asks for, writing under its folder. */
export function metricSinks(config: { logger: string }, outDir: string): TensorBoardWriter[] {
  return config.logger === 'tensorboard' ? [new TensorBoardWriter(join(outDir, 'tensorboard'))] : [];
}
