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

/** Bounds of N-way replication (src/blob/replicated.ts and peer-service.ts). */
export interface ReplicationLimits {
  /**
   * Copies of each blob kept on distinct nodes (N). Default 3; capped at the member count at each
   * put. A put resolves when a majority of N copies is fsynced (the write quorum).
   */
  replicationFactor: number;
  /**
   * Bytes per peer request when a blob is copied or read across nodes. Default 1 MiB: the mutual-TLS
   * transport carries frames of a few MiB at most. A body up to this size travels in one request.
   */
  blobTransferChunkBytes: number;
  /** Deadline of one peer request of a copy or read (begin, chunk, commit, read, has), ms. Default 15,000. */
  peerRequestTimeoutMs: number;
  /** Attempts to copy a blob to one replica within a put; each restarts from byte 0. Default 2. */
  replicaCopyAttemptsMax: number;
  /**
   * Puts whose replication has not finished, including copies still running after the quorum
   * answered. Default 256. Past it new puts wait (at most replicationQueueMax of them, then BLOB_BUSY).
   * Each may hold one body of up to blobTransferChunkBytes in memory (small bodies are copied from memory).
   */
  replicationsInFlightMax: number;
  /** Puts waiting for a replication slot. Default 1024; one more is refused with BLOB_BUSY. */
  replicationQueueMax: number;
  /** Copies this node receives from peers at once (each holds a put slot and one chunk). Default 64. */
  inboundUploadsMax: number;
  /** An inbound copy with no request for this long is dropped (its temp file removed), ms. Default 30,000. */
  inboundUploadIdleMs: number;
  /**
   * A blob read from a peer by stream() up to this size is fetched whole and verified before its
   * first byte is yielded (so a corrupt replica is skipped); a larger one is verified at its end.
   * Default 8 MiB.
   */
  remoteVerifiedStreamBytesMax: number;
  /** Blob ids in one 'blob.has' request. Default 1,024. */
  hasIdsPerRequestMax: number;
  /** Copies fetched from a peer on read and kept locally at once (read repair); more are left to the repair loop. Default 16. */
  readRepairsInFlightMax: number;
  /** Blobs remembered as needing repair after a failed copy (repair hints). Default 100,000; more are dropped and found by the sweep. */
  repairHintsMax: number;
}

export type ResolvedReplicationLimits = Readonly<ReplicationLimits>;

export const replicationLimitsDefault: ResolvedReplicationLimits = {
  replicationFactor: 3,
  blobTransferChunkBytes: 1024 * 1024,
  peerRequestTimeoutMs: 15_000,
  replicaCopyAttemptsMax: 2,
  replicationsInFlightMax: 256,
  replicationQueueMax: 1024,
  inboundUploadsMax: 64,
  inboundUploadIdleMs: 30_000,
  remoteVerifiedStreamBytesMax: 8 * 1024 * 1024,
  hasIdsPerRequestMax: 1024,
  readRepairsInFlightMax: 16,
  repairHintsMax: 100_000,
};

const replicationRanges: { readonly [K in keyof ReplicationLimits]: readonly [min: number, max: number] } = {
  replicationFactor: [1, 9],
  blobTransferChunkBytes: [4096, 4 * 1024 * 1024], // the transport's frames are a few MiB at most
  peerRequestTimeoutMs: [10, 600_000],
  replicaCopyAttemptsMax: [1, 10],
  replicationsInFlightMax: [1, 65536],
  replicationQueueMax: [0, 1_000_000],
  inboundUploadsMax: [1, 65536],
  inboundUploadIdleMs: [10, 3_600_000],
  remoteVerifiedStreamBytesMax: [0, 256 * 1024 * 1024],
  hasIdsPerRequestMax: [1, 65536],
  readRepairsInFlightMax: [0, 1024],
  repairHintsMax: [0, 10_000_000],
};

/** Bounds of the repair loop (src/blob/repair.ts). */
export interface RepairLimits {
  /** Referenced blobs examined per pass; the next pass resumes at the cursor. Default 10,000. */
  repairBlobsPerPassMax: number;
  /** Blob ids read from the store and checked on peers together (one 'blob.has' per peer per batch). Default 256. */
  repairBatchBlobs: number;
  /** Copies pushed or pulled at once. Default 4. */
  repairConcurrencyMax: number;
  /** Bytes copied per second by repair, all copies together. Default 32 MiB/s, so repair never starves deliveries. */
  repairBytesPerSecondMax: number;
  /** Pause between passes, ms. Default 60,000. */
  repairPassIntervalMs: number;
  /** Under-replicated blobs remembered for status (with their copy count). Default 100,000; past it only counted. */
  underReplicatedTrackedMax: number;
}

export type ResolvedRepairLimits = Readonly<RepairLimits>;

export const repairLimitsDefault: ResolvedRepairLimits = {
  repairBlobsPerPassMax: 10_000,
  repairBatchBlobs: 256,
  repairConcurrencyMax: 4,
  repairBytesPerSecondMax: 32 * 1024 * 1024,
  repairPassIntervalMs: 60_000,
  underReplicatedTrackedMax: 100_000,
};

const repairRanges: { readonly [K in keyof RepairLimits]: readonly [min: number, max: number] } = {
  repairBlobsPerPassMax: [1, 100_000_000],
  repairBatchBlobs: [1, 65536],
  repairConcurrencyMax: [1, 1024],
  repairBytesPerSecondMax: [4096, 2 ** 40],
  repairPassIntervalMs: [0, 86_400_000],
  underReplicatedTrackedMax: [0, 10_000_000],
};

function validateRanges<L extends object>(resolved: L, table: { readonly [K in keyof L]: readonly [number, number] }): Readonly<L> {
  for (const key of Object.keys(table) as (keyof L & string)[]) {
    const [min, max] = table[key];
    const v = resolved[key];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
      throw new BlobError('BLOB_LIMITS_INVALID', `${key} = ${String(v)}: expected an integer in [${min}, ${max}]`);
    }
  }
  return Object.freeze(resolved);
}

export function validateReplicationLimits(limits: Partial<ReplicationLimits> = {}): ResolvedReplicationLimits {
  return validateRanges({ ...replicationLimitsDefault, ...limits }, replicationRanges);
}

export function validateRepairLimits(limits: Partial<RepairLimits> = {}): ResolvedRepairLimits {
  return validateRanges({ ...repairLimitsDefault, ...limits }, repairRanges);
}
