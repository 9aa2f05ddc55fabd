// Public surface of the blob subsystem: the local content-addressed store, its ids, limits and errors.
// Replication, repair and GC policy build on this surface; nothing outside src/blob reaches past it.

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
