// Point-in-time images of the store's LevelDB, served in bounded chunks to followers that need a snapshot.
// Must not write to the database nor keep more than snapshotImagesKeptMax images (each pins old LevelDB versions).

import { createHash, type Hash, randomBytes } from 'node:crypto';
import type { AbstractSnapshot } from 'abstract-level';
import { StoreError } from './errors.ts';
import { keys } from './keys.ts';
import { replicationLimits } from './replication-limits.ts';
import { type Db, packr } from './tx.ts';

/** What a follower learns when it opens an image. */
export interface ImageInfo {
  readonly imageId: string;
  /** The store's applied index inside the image. */
  readonly appliedIndex: number;
}

/** The whole image, to verify the stream against at the end. */
export interface ImageDigest {
  readonly records: number;
  /** Key plus value bytes of every record. */
  readonly bytes: number;
  /** sha256 (hex) over every record in key order, framed as imageDigestUpdate does. */
  readonly sha256: string;
}

/** One chunk: keys and values alternating, in key order; the last one carries the image's digest. */
export interface ImageChunk {
  readonly records: Uint8Array[];
  readonly last: boolean;
  readonly digest?: ImageDigest;
}

interface Image extends ImageInfo {
  readonly snapshot: AbstractSnapshot;
  /** Computed in the background from open() on (a pass over a large store takes a while). */
  readonly digest: Promise<ImageDigest>;
  lastUsedMs: number;
}

/** The digest framing: 4-byte big-endian key length, 4-byte value length, key, value. */
export function imageDigestUpdate(h: Hash, key: Uint8Array, value: Uint8Array): void {
  const len = Buffer.allocUnsafe(8);
  len.writeUInt32BE(key.byteLength, 0);
  len.writeUInt32BE(value.byteLength, 4);
  h.update(len).update(key).update(value);
}

/** Every record of `db` (or of a snapshot of it) in key order, raw bytes. */
export function rawIterator(db: Db, o: { snapshot?: AbstractSnapshot; gt?: Uint8Array; limit?: number } = {}) {
  return db.iterator<Uint8Array, Uint8Array>({
    keyEncoding: 'view',
    valueEncoding: 'view',
    ...(o.snapshot ? { snapshot: o.snapshot } : {}),
    ...(o.gt ? { gt: o.gt } : {}),
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
  });
}

/** Digest, record count and bytes of a database or snapshot: the same walk on both sides of a transfer. */
export async function digestImage(db: Db, snapshot?: AbstractSnapshot): Promise<ImageDigest> {
  const h = createHash('sha256');
  let records = 0;
  let bytes = 0;
  for await (const [k, v] of rawIterator(db, snapshot ? { snapshot } : {})) {
    imageDigestUpdate(h, k, v);
    records++;
    bytes += k.byteLength + v.byteLength;
  }
  return { records, bytes, sha256: h.digest('hex') };
}

/**
 * Images held for transfers in progress. An image is a LevelDB snapshot (iterators over it are
 * consistent whatever is applied meanwhile); chunks are addressed by the last key received, so a
 * chunk request can be repeated. Images are created on demand at the current applied index (which
 * may be past the snapshot a follower was told about: it skips what the image already holds).
 */
export class ImageCache {
  private readonly db: () => Db;
  private readonly nowMs: () => number;
  private readonly images = new Map<string, Image>();

  constructor(db: () => Db, nowMs: () => number) {
    this.db = db;
    this.nowMs = nowMs;
  }

  size(): number {
    return this.images.size;
  }

  /** An image holding at least `minApplied`; UNAVAILABLE when this node has not applied that far. */
  async open(minApplied: number): Promise<ImageInfo> {
    this.releaseIdle();
    let best: Image | undefined;
    for (const img of this.images.values()) if (img.appliedIndex >= minApplied && (!best || img.appliedIndex > best.appliedIndex)) best = img;
    if (best !== undefined) {
      best.lastUsedMs = this.nowMs();
      return info(best);
    }
    const db = this.db();
    let snapshot: AbstractSnapshot;
    try {
      snapshot = db.snapshot();
    } catch (e) {
      throw new StoreError('UNAVAILABLE', 'store: cannot take an image now (database not open)', { cause: e });
    }
    try {
      const raw = await db.get(keys.applied, { snapshot });
      const appliedIndex = raw === undefined ? 0 : (packr.unpack(raw) as number);
      if (appliedIndex < minApplied) throw new StoreError('UNAVAILABLE', `store: applied ${appliedIndex}, behind the requested ${minApplied}`);
      const digest = digestImage(db, snapshot);
      digest.catch(() => undefined); // awaited by the last chunk; an image released meanwhile fails there
      const img: Image = { imageId: randomBytes(8).toString('hex'), appliedIndex, digest, snapshot, lastUsedMs: this.nowMs() };
      this.evictForOneMore();
      this.images.set(img.imageId, img);
      return info(img);
    } catch (e) {
      await snapshot.close().catch(() => undefined);
      if (e instanceof StoreError) throw e;
      throw new StoreError('UNAVAILABLE', 'store: reading an image failed', { cause: e });
    }
  }

  /** The records after `after` (from the start without it), within the chunk limits. */
  async chunk(imageId: string, after: Uint8Array | undefined): Promise<ImageChunk> {
    const img = this.images.get(imageId);
    if (img === undefined) throw new StoreError('NOT_FOUND', `store: image ${imageId} is no longer kept`);
    img.lastUsedMs = this.nowMs();
    const records: Uint8Array[] = [];
    let bytes = 0;
    let last = true;
    const it = rawIterator(this.db(), { snapshot: img.snapshot, ...(after ? { gt: after } : {}) });
    try {
      for await (const [k, v] of it) {
        const size = k.byteLength + v.byteLength;
        const full = records.length / 2 >= replicationLimits.snapshotChunkRecordsMax || bytes + size > replicationLimits.snapshotChunkBytesMax;
        if (records.length > 0 && full) {
          last = false;
          break;
        }
        records.push(k, v);
        bytes += size;
      }
    } catch (e) {
      throw new StoreError('UNAVAILABLE', `store: reading image ${imageId} failed`, { cause: e });
    } finally {
      await it.close().catch(() => undefined);
    }
    if (!last) return { records, last };
    try {
      return { records, last, digest: await img.digest };
    } catch (e) {
      throw new StoreError('UNAVAILABLE', `store: digest of image ${imageId} failed`, { cause: e });
    }
  }

  /** Release images nobody used for snapshotImageIdleMs. */
  releaseIdle(): void {
    const now = this.nowMs();
    for (const img of [...this.images.values()]) {
      if (now - img.lastUsedMs >= replicationLimits.snapshotImageIdleMs) this.release(img);
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.images.values()];
    this.images.clear();
    await Promise.all(all.map((img) => img.snapshot.close().catch(() => undefined)));
  }

  private evictForOneMore(): void {
    while (this.images.size >= replicationLimits.snapshotImagesKeptMax) {
      let lru: Image | undefined;
      for (const img of this.images.values()) if (!lru || img.lastUsedMs < lru.lastUsedMs) lru = img;
      this.release(lru!);
    }
  }

  private release(img: Image): void {
    this.images.delete(img.imageId);
    void img.snapshot.close().catch(() => undefined);
  }
}

function info(img: Image): ImageInfo {
  return { imageId: img.imageId, appliedIndex: img.appliedIndex };
}
