// Public surface of the blob subsystem: local store, ids, limits, errors, N-way replication and repair.
// Front ends type against Blobs; nothing outside src/blob reaches past this surface.

export { type BlobId, blobIdOf, isBlobId, parseBlobId } from './blob-id.ts';
export { BlobError, type BlobErrorCode, isBlobError } from './errors.ts';
export { type BlobLimits, type ResolvedBlobLimits, blobLimitsDefault, validateBlobLimits } from './limits.ts';
export type { BlobFileHandle, BlobFileStat, BlobFs } from './fs.ts';
export { nodeBlobFs } from './fs.ts';
export type { BlobSource } from './temp-writer.ts';
export {
  BlobStore,
  type BlobStat,
  type BlobStoreEvents,
  type BlobStoreOptions,
  type ByteRange,
  type CorruptionDetectedBy,
  type PutOptions,
  type PutResult,
  type ScrubResult,
} from './blob-store.ts';
export { collectGarbage, type GcOptions, type GcResult } from './gc.ts';
export type { Blobs } from './blobs.ts';
export {
  type RepairLimits,
  type ReplicationLimits,
  repairLimitsDefault,
  replicationLimitsDefault,
  validateRepairLimits,
  validateReplicationLimits,
} from './limits.ts';
export { effectiveReplicas, placementTargets, preferenceList, writeQuorum } from './placement.ts';
export {
  type BlobLogger,
  type ReplicatedBlobEvents,
  ReplicatedBlobStore,
  type ReplicatedBlobStoreOptions,
  type ReplicationCounters,
} from './replicated.ts';
export {
  type BlobRepairOptions,
  BlobRepairer,
  type RepairClock,
  type RepairCounters,
  type RepairCursorStore,
  type RepairPassResult,
  fileRepairCursor,
  systemRepairClock,
} from './repair.ts';
export { type BlobReplication, type BlobReplicationOptions, startBlobReplication } from './replication-node.ts';
