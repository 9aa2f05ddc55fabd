// Garbage collection of bodies nothing references: a bounded sweep over the local blob store.
// The caller says what is referenced (the store's counts); this module never reads metadata itself.

import { BlobError } from './errors.ts';
import type { BlobStore } from './blob-store.ts';
import type { BlobId } from './blob-id.ts';

export interface GcOptions {
  /** True while some message points at the blob (the store's reference count is above zero). */
  isReferenced: (id: BlobId) => Promise<boolean>;
  /**
   * A blob younger than this is kept even when unreferenced: its message may be between the
   * blob write and the metadata commit on another node (pins cover this node only). Default 1 h.
   */
  graceMs?: number;
  /** Blobs examined per sweep, so one sweep has a bounded cost. Default 100,000. */
  scanMax?: number;
  nowMs: () => number;
}

export interface GcResult {
  readonly scanned: number;
  readonly deleted: number;
  readonly bytesFreed: number;
}

/** One sweep: delete every unreferenced, unpinned blob older than the grace period. */
export async function collectGarbage(blobs: BlobStore, o: GcOptions): Promise<GcResult> {
  const graceMs = o.graceMs ?? 60 * 60 * 1000;
  const scanMax = o.scanMax ?? 100_000;
  let scanned = 0;
  let deleted = 0;
  let bytesFreed = 0;
  for await (const id of blobs.list()) {
    if (scanned++ >= scanMax) break;
    if (blobs.isPinned(id) || (await o.isReferenced(id))) continue;
    let stat;
    try {
      stat = await blobs.stat(id);
    } catch (e) {
      if (e instanceof BlobError && e.code === 'BLOB_NOT_FOUND') continue;
      throw e;
    }
    if (o.nowMs() - stat.mtimeMs < graceMs) continue;
    // Re-check after the awaits: a delivery may have referenced it meanwhile (STYLE: re-check state after await).
    if (await o.isReferenced(id)) continue;
    try {
      if (await blobs.delete(id, { unlessWrittenAfterMs: stat.mtimeMs })) {
        deleted++;
        bytesFreed += stat.size;
      }
    } catch (e) {
      if (e instanceof BlobError && e.code === 'BLOB_PINNED') continue;
      throw e;
    }
  }
  return { scanned: Math.min(scanned, scanMax), deleted, bytesFreed };
}
