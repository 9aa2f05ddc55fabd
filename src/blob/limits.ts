// Limits of the local blob store, each with its unit in its name, and the one validator for them.
// Must not hold state or defaults anywhere else: the store reads every bound from a ResolvedBlobLimits.

import { BlobError } from './errors.ts';

export interface BlobLimits {
  /**
   * Largest body one put accepts, in bytes. Default 64 MiB. The SMTP SIZE extension (RFC 1870)
   * must advertise at most this; a per-put `sizeMax` can only lower it.
   */
  blobBytesMax: number;
  /**
   * Bytes gathered before one write(2) to the temp file. Default 256 KiB. Small SMTP chunks are
   * coalesced up to this; larger chunks are written as they come. One buffer per running put.
   */
  blobWriteChunkBytes: number;
  /** Bytes per read(2) when streaming a blob out. Default 256 KiB; each chunk is a fresh buffer. */
  blobReadChunkBytes: number;
  /**
   * Puts running at once (each holds an open temp file and a write buffer until its source ends
   * and its fsyncs return). Default 64. Bounds file descriptors, memory and fsync pressure.
   */
  blobsConcurrentWritesMax: number;
  /** Puts waiting for a running slot. Default 1024. One more is refused with BLOB_BUSY, never queued. */
  blobsWriteQueueMax: number;
}

export type ResolvedBlobLimits = Readonly<BlobLimits>;

export const blobLimitsDefault: ResolvedBlobLimits = {
  blobBytesMax: 64 * 1024 * 1024,
  blobWriteChunkBytes: 256 * 1024,
  blobReadChunkBytes: 256 * 1024,
  blobsConcurrentWritesMax: 64,
  blobsWriteQueueMax: 1024,
};

const ranges: { readonly [K in keyof BlobLimits]: readonly [min: number, max: number] } = {
  blobBytesMax: [0, 2 ** 40], // a Buffer holds at most about 2^53 bytes; 1 TiB is already absurd for mail
  blobWriteChunkBytes: [4096, 64 * 1024 * 1024],
  blobReadChunkBytes: [4096, 64 * 1024 * 1024],
  blobsConcurrentWritesMax: [1, 65536],
  blobsWriteQueueMax: [0, 1_000_000],
};

/** Merge `limits` over the defaults and reject values out of range: the one place limits are checked. */
export function validateBlobLimits(limits: Partial<BlobLimits> = {}): ResolvedBlobLimits {
  const resolved: BlobLimits = { ...blobLimitsDefault, ...limits };
  for (const key of Object.keys(ranges) as (keyof BlobLimits)[]) {
    const [min, max] = ranges[key];
    const v = resolved[key];
    if (!Number.isSafeInteger(v) || v < min || v > max) {
      throw new BlobError('BLOB_LIMITS_INVALID', `${key} = ${v}: expected an integer in [${min}, ${max}]`);
    }
  }
  return Object.freeze(resolved);
}
