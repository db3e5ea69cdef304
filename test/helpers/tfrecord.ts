// An independent TFRecord reader for the tests: framing per tensorflow's record_writer
// (uint64 LE length, masked CRC32C of it, payload, masked CRC32C of the payload), and CRC32C
// computed bit by bit from the Castagnoli polynomial, sharing no code with the writer's
// table-driven package.
const CASTAGNOLI_REFLECTED = 0x82f63b78;

export function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ CASTAGNOLI_REFLECTED : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** tensorflow/core/lib/hash/crc32c.h: Mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
export function maskCrc(crc: number): number {
  const rotated = ((crc >>> 15) | (crc << 17)) >>> 0;
  return (rotated + 0xa282ead8) >>> 0;
}

/** The payloads of a TFRecord file; throws on a bad checksum or a truncated record. */
export function readTfRecords(file: Uint8Array): Uint8Array[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const records: Uint8Array[] = [];
  let at = 0;
  while (at < file.length) {
    if (at + 12 > file.length) throw new Error(`truncated record header at byte ${at}`);
    const length = Number(view.getBigUint64(at, true));
    if (maskCrc(crc32cBitwise(file.subarray(at, at + 8))) !== view.getUint32(at + 8, true)) throw new Error(`bad length checksum at byte ${at}`);
    const start = at + 12;
    if (start + length + 4 > file.length) throw new Error(`truncated record at byte ${at}`);
    const payload = file.subarray(start, start + length);
    if (maskCrc(crc32cBitwise(payload)) !== view.getUint32(start + length, true)) throw new Error(`bad payload checksum at byte ${at}`);
    records.push(payload);
    at = start + length + 4;
  }
  return records;
}
