// safetensors files: an 8-byte little-endian header length, a JSON header (dtype, shape,
// data_offsets per tensor, optional __metadata__), then the raw little-endian data. Reading
// checks every offset against the file, so a corrupt file is an error, never a wild read.
import { closeSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { PolicyError } from './errors.js';

export const DTYPE_BYTES: Record<string, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
  file: string;
}

export interface SafetensorsHeader {
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

function bad(file: string, why: string): never {
  throw new PolicyError('E_SAFETENSORS', `${file}: ${why}`);
}

/** Reads and checks the header of one safetensors file. */
export function readSafetensorsHeader(file: string): SafetensorsHeader {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new PolicyError('E_MODEL_NOT_FOUND', `${file}: cannot open (${(e as Error).message})`);
  }
  try {
    const stat = fstatSync(fd);
    // A folder opens on Linux and then fails every read with a bare EISDIR.
    if (!stat.isFile()) bad(file, `is ${stat.isDirectory() ? 'a folder' : 'not a regular file'}, not a safetensors file`);
    const size = stat.size;
    if (size < 8) bad(file, `file has ${size} bytes, too short for a safetensors header`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const headerLen = Number(lenBuf.readBigUInt64LE(0));
    if (headerLen < 2 || headerLen > MAX_HEADER || 8 + headerLen > size)
      bad(file, `header length ${headerLen} does not fit the file (${size} bytes)`);
    const hb = Buffer.alloc(headerLen);
    readSync(fd, hb, 0, headerLen, 8);
    let json: unknown;
    try {
      json = JSON.parse(hb.toString('utf8'));
    } catch (e) {
      bad(file, `header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) bad(file, 'header is not a JSON object');
    const dataStart = 8 + headerLen;
    const dataLen = size - dataStart;
    const tensors = new Map<string, TensorEntry>();
    let metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (typeof value === 'object' && value !== null) metadata = value as Record<string, string>;
        continue;
      }
      const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof v !== 'object' || v === null) bad(file, `tensor ${name}: entry is not an object`);
      if (typeof v.dtype !== 'string' || !(v.dtype in DTYPE_BYTES)) bad(file, `tensor ${name}: unknown dtype ${JSON.stringify(v.dtype)}`);
      if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isInteger(d) && d >= 0))
        bad(file, `tensor ${name}: shape ${JSON.stringify(v.shape)} is not a list of non-negative integers`);
      const off = v.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[0] > off[1])
        bad(file, `tensor ${name}: data_offsets ${JSON.stringify(off)} are not [begin, end]`);
      const [b, e] = off as [number, number];
      if (e > dataLen) bad(file, `tensor ${name}: data_offsets [${b}, ${e}] run past the data (${dataLen} bytes)`);
      const count = (v.shape as number[]).reduce((a, d) => a * d, 1);
      if (e - b !== count * DTYPE_BYTES[v.dtype])
        bad(file, `tensor ${name}: ${e - b} bytes for shape [${(v.shape as number[]).join(', ')}] of ${v.dtype}`);
      tensors.set(name, { name, dtype: v.dtype, shape: v.shape as number[], begin: dataStart + b, end: dataStart + e, file });
    }
    const sorted = [...tensors.values()].sort((x, y) => x.begin - y.begin);
    for (let i = 1; i < sorted.length; i++)
      if (sorted[i].begin < sorted[i - 1].end) bad(file, `tensors ${sorted[i - 1].name} and ${sorted[i].name} overlap`);
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

/** The headers of a model: model.safetensors, or every shard named by model.safetensors.index.json. */
export function readModelHeaders(dir: string, base = 'model'): Map<string, TensorEntry> {
  const single = join(dir, `${base}.safetensors`);
  const index = join(dir, `${base}.safetensors.index.json`);
  let indexText: string | undefined;
  try {
    indexText = readFileSync(index, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code !== 'ENOENT') throw new PolicyError('E_SAFETENSORS', `${index}: cannot read (${(e as Error).message})`);
    indexText = undefined;
  }
  if (indexText === undefined) return readSafetensorsHeader(single).tensors;
  let parsed: { weight_map?: Record<string, string> };
  try {
    parsed = JSON.parse(indexText);
  } catch (e) {
    throw new PolicyError('E_SAFETENSORS', `${index}: not valid JSON (${(e as Error).message})`);
  }
  if (!parsed.weight_map || typeof parsed.weight_map !== 'object')
    throw new PolicyError('E_SAFETENSORS', `${index}: no weight_map`);
  const out = new Map<string, TensorEntry>();
  const shards = new Map<string, Map<string, TensorEntry>>();
  for (const [name, shard] of Object.entries(parsed.weight_map)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\'))
      throw new PolicyError('E_SAFETENSORS', `${index}: weight_map[${name}] = ${JSON.stringify(shard)} is not a file name`);
    if (!shards.has(shard)) shards.set(shard, readSafetensorsHeader(join(dir, shard)).tensors);
    const entry = shards.get(shard)!.get(name);
    if (!entry) throw new PolicyError('E_SAFETENSORS', `${index}: ${name} is mapped to ${shard}, which does not hold it`);
    out.set(name, entry);
  }
  return out;
}

/** The raw bytes of one tensor. */
export function readTensorBytes(entry: TensorEntry): Uint8Array {
  const fd = openSync(entry.file, 'r');
  try {
    const buf = new Uint8Array(entry.end - entry.begin);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, entry.begin + got);
      if (n === 0) bad(entry.file, `unexpected end of file in tensor ${entry.name}`);
      got += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** The raw bytes of one tensor, read without blocking the event loop. */
export async function readTensorBytesAsync(entry: TensorEntry): Promise<Uint8Array> {
  const fh = await open(entry.file, 'r');
  try {
    const buf = new Uint8Array(entry.end - entry.begin);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, Math.min(buf.length - got, 1 << 26), entry.begin + got);
      if (bytesRead === 0) bad(entry.file, `unexpected end of file in tensor ${entry.name}`);
      got += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

export interface TensorToWrite {
  name: string;
  dtype: 'F32' | 'BF16';
  shape: number[];
  /** Produces the data when it is written (so only one tensor is in memory at a time). */
  data: () => Float32Array | Uint16Array;
}

/** Writes a safetensors file, tensors in the order given, header padded to 8 bytes. */
export function writeSafetensors(file: string, tensors: TensorToWrite[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, d) => a * d, 1) * DTYPE_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const hb = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, len);
    writeSync(fd, hb);
    for (const t of tensors) {
      const d = t.data();
      const expected = t.shape.reduce((a, x) => a * x, 1);
      if (d.length !== expected) throw new PolicyError('E_WEIGHTS', `${t.name}: ${d.length} values for shape [${t.shape.join(', ')}]`);
      const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
    }
  } finally {
    closeSync(fd);
  }
}
