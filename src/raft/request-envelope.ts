// The envelope the driver wraps around every application proposal: [requestId, data] in MessagePack.
// Pure encoding; what a request id means (deduplication) is the state machine's business.

import { Packr } from 'msgpackr';
import { assert } from './assert.ts';

const packr = new Packr({ useRecords: false });

/** Request ids are opaque bytes; the driver makes 16 random ones unless the caller brings its own. */
export const requestIdBytesMax = 64;

export function encodeRequest(requestId: Uint8Array, data: Uint8Array): Uint8Array {
  return packr.pack([requestId, data]);
}

/** Zero-copy view as a plain Uint8Array (msgpackr hands out Buffers). */
function plain(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Decode a committed entry's payload. A malformed one means a corrupt log or a foreign writer: assert. */
export function decodeRequest(entryData: Uint8Array): { requestId: Uint8Array; data: Uint8Array } {
  const v: unknown = packr.unpack(entryData);
  assert(
    Array.isArray(v) && v.length === 2 && v[0] instanceof Uint8Array && v[1] instanceof Uint8Array,
    'malformed request envelope in a committed entry',
  );
  return { requestId: plain(v[0] as Uint8Array), data: plain(v[1] as Uint8Array) };
}

/** Map key for a request id. */
export function requestKey(requestId: Uint8Array): string {
  return Buffer.from(requestId.buffer, requestId.byteOffset, requestId.byteLength).toString('hex');
}
