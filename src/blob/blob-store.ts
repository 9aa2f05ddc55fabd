// The local content-addressed blob store: one fsynced file per distinct body at dir/ab/cd/<sha256>.
// Must not decide what is referenced (the replicated metadata counts references) nor talk to peers.
//
// Layout (one BlobStore per directory, one process at a time: open() empties tmp/):
//   dir/ab/cd/<id>       a blob; `ab` and `cd` are the id's first two hex pairs (65,536 leaf dirs)
//   dir/tmp/<uuid>.tmp   a put in progress; leftovers of a crash are deleted by open()
//   dir/quarantine/<id>.<ms>  a blob that failed its checksum, kept for inspection, never read again
//
// Durability of put (what `250` may rely on, DESIGN principle 3): the body is written to tmp/,
// fsynced, renamed to its final name, and the leaf directory is fsynced; fan-out directories are
// created as needed and their parents fsynced (once per directory per process, because a crashed
// predecessor may have created one without fsyncing it). put() resolves only after all of that.
//
// References: the store does not count them. The replicated metadata (src/store) does, and GC
// calls delete() only for blobs no committed message references. A blob written by a transaction
// whose metadata is not committed yet is referenced by nothing: it must be pinned (put's `pin`
// option, or pin()) until the commit, and delete() refuses a pinned blob. Pins live in one process's
// memory only, so they do not protect a copy pushed to a peer nor survive a restart: GC must also
// skip blobs whose stat().mtimeMs is within its grace period. Every put that returns a blob,
// including a dedup put, sets its mtime to now (under the same per-id lock as delete).

import { createHash, randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { assert } from '../raft/assert.ts';
import { TypedEvents } from '../raft/typed-events.ts';
import { type BlobId, blobIdOf, isBlobId, parseBlobId } from './blob-id.ts';
import { BlobError, errnoCode, isBlobError, toBlobError } from './errors.ts';
import { type BlobFileHandle, type BlobFileStat, type BlobFs, nodeBlobFs } from './fs.ts';
import { KeyedLock } from './keyed-lock.ts';
import { type BlobLimits, type ResolvedBlobLimits, validateBlobLimits } from './limits.ts';
import { type BlobSource, writeTempFile } from './temp-writer.ts';
import { WriteGate } from './write-gate.ts';

export interface BlobStoreOptions {
  /** File-system calls; default node:fs/promises. Tests inject faults here. */
  fs?: BlobFs;
  /** Milliseconds since the epoch, for quarantine names and a dedup put's mtime. Default Date.now. */
  nowMs?: () => number;
}

export interface PutOptions {
  /** The id the body must hash to (a copy received from a peer). Mismatch: BLOB_CHECKSUM, nothing stored. */
  expectedId?: string;
  /** A lower size limit for this put, in bytes (e.g. the SMTP SIZE the client declared). */
  sizeMax?: number;
  /** Pin the blob before put() resolves, atomically with placing it; the caller must unpin() it later. */
  pin?: boolean;
}

export interface PutResult {
  readonly id: BlobId;
  readonly size: number;
  /** An intact copy was already stored; the new bytes were dropped (dedup). */
  readonly existed: boolean;
}

/** A half-open byte range [start, end); `end` past the blob's size is clamped to it. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface BlobStat {
  readonly size: number;
  /** Time of the last put() that returned this blob (or of its write), in ms since the epoch. */
  readonly mtimeMs: number;
}

export type ScrubResult =
  | { readonly status: 'ok'; readonly size: number }
  | { readonly status: 'quarantined'; readonly path: string | undefined }
  | { readonly status: 'missing' };

export type CorruptionDetectedBy = 'get' | 'stream' | 'scrub' | 'put';

export interface BlobStoreEvents {
  /**
   * A stored file did not match its id and was moved to `path` (under quarantine/). Fired once per
   * quarantined file, synchronously, before the reader's BLOB_CHECKSUM is thrown; a replicator
   * listens to fetch a good copy from a peer. Listeners must not throw.
   */
  blobCorrupt: [id: BlobId, path: string, detectedBy: CorruptionDetectedBy];
}

const fanoutNamePattern = /^[0-9a-f]{2}$/;

export class BlobStore {
  readonly dir: string;
  readonly limits: ResolvedBlobLimits;
  readonly events = new TypedEvents<BlobStoreEvents>();

  private readonly fs: BlobFs;
  private readonly nowMs: () => number;
  private readonly gate: WriteGate;
  /** Serializes, per id, placing a put, deleting and quarantining. */
  private readonly idLock = new KeyedLock<BlobId>();
  private readonly pins = new Map<BlobId, number>();
  /** Fan-out dirs ("ab/cd") known to exist with their entries fsynced by this process. */
  private readonly durableFanout = new Set<string>();
  private removedAtOpen = 0;

  private constructor(dir: string, limits: ResolvedBlobLimits, options: BlobStoreOptions) {
    this.dir = dir;
    this.limits = limits;
    this.fs = options.fs ?? nodeBlobFs;
    this.nowMs = options.nowMs ?? Date.now;
    this.gate = new WriteGate(limits.blobsConcurrentWritesMax, limits.blobsWriteQueueMax);
  }

  /** Create the directory layout if needed and delete temp files a crash left behind. */
  static async open(dir: string, limits: Partial<BlobLimits> = {}, options: BlobStoreOptions = {}): Promise<BlobStore> {
    const store = new BlobStore(dir, validateBlobLimits(limits), options);
    try {
      await store.fs.mkdir(store.tmpDir, { recursive: true, mode: 0o700 });
      await store.fs.mkdir(store.quarantineDir, { recursive: true, mode: 0o700 });
      await store.fsyncDir(dir);
      await store.fsyncDir(dirname(dir)); // dir itself may have just been created
      for (const name of await store.fs.readdir(store.tmpDir)) {
        await store.fs.unlink(join(store.tmpDir, name));
        store.removedAtOpen++;
      }
    } catch (e) {
      throw toBlobError(e, `opening blob store ${dir}`);
    }
    return store;
  }

  /** Temp files left by a crashed predecessor and deleted by open(). */
  get tmpFilesRemovedAtOpen(): number {
    return this.removedAtOpen;
  }

  get tmpDir(): string {
    return join(this.dir, 'tmp');
  }

  get quarantineDir(): string {
    return join(this.dir, 'quarantine');
  }

  /** Where blob `id` lives (for operators and tests; callers read through get/stream). */
  pathOf(id: BlobId): string {
    return join(this.dir, id.slice(0, 2), id.slice(2, 4), id);
  }

  /**
   * Store a body; resolves only when it is durable (see the header). Errors: BLOB_INVALID_ID
   * (expectedId), BLOB_TOO_LARGE, BLOB_CHECKSUM (expectedId mismatch), BLOB_BUSY, STORAGE_FULL,
   * BLOB_IO; on every error nothing new is stored and no temp file is left. An error thrown by
   * `source` itself is rethrown unchanged. When put stops early it calls the source iterator's
   * return() (a Readable is destroyed).
   */
  async put(source: BlobSource, opts: PutOptions = {}): Promise<PutResult> {
    const expectedId = opts.expectedId === undefined ? undefined : parseBlobId(opts.expectedId);
    const sizeMax = this.putSizeMax(opts.sizeMax);
    await this.gate.acquire();
    try {
      const temp = join(this.tmpDir, `${randomUUID()}.tmp`);
      const { id, size } = await writeTempFile(this.fs, temp, source, sizeMax, this.limits.blobWriteChunkBytes);
      try {
        if (expectedId !== undefined && id !== expectedId) {
          throw new BlobError('BLOB_CHECKSUM', `received body hashes to ${id}, expected ${expectedId}: not stored`, {
            blobId: expectedId,
          });
        }
        await this.ensureFanout(id);
        const existed = await this.idLock.run(id, () => this.placeLocked(temp, id, size, opts.pin === true));
        return { id, size, existed };
      } catch (e) {
        await this.fs.unlink(temp).catch(() => {}); // gone already if it was renamed
        throw toBlobError(e, `storing blob ${id}`, id);
      }
    } finally {
      this.gate.release();
    }
  }

  /** The whole blob, verified. Errors: BLOB_INVALID_ID, BLOB_NOT_FOUND, BLOB_CHECKSUM (quarantined), BLOB_IO. */
  async get(id: string): Promise<Uint8Array> {
    const blobId = parseBlobId(id);
    const fh = await this.openForRead(blobId);
    try {
      const st = await fh.stat();
      const bytes = Buffer.allocUnsafe(st.size);
      let filled = 0;
      while (filled < st.size) {
        const { bytesRead } = await fh.read(bytes, filled, st.size - filled, filled);
        if (bytesRead === 0) break; // shorter than fstat said: the checksum below fails
        filled += bytesRead;
      }
      const body = bytes.subarray(0, filled);
      if (blobIdOf(body) !== blobId) throw await this.corrupt(blobId, st.ino, 'get');
      return body;
    } catch (e) {
      throw toBlobError(e, `reading blob ${blobId}`, blobId);
    } finally {
      await fh.close().catch(() => {});
    }
  }

  /**
   * The blob in chunks of blobReadChunkBytes, each a fresh buffer the consumer may keep. The id and
   * range are checked at call time (BLOB_INVALID_ID, BLOB_RANGE_INVALID); BLOB_NOT_FOUND comes from
   * the first next(). When the stream covers the whole blob, the SHA-256 is checked after the last
   * chunk and a mismatch throws BLOB_CHECKSUM *after* every byte was yielded: a consumer must treat
   * a throw at the end as corruption and retract what it forwarded (an IMAP server drops the
   * connection instead of finishing the literal; a replicator's peer verifies with expectedId).
   * A partial range is not verified (scrub() covers it); use get() when a body must be verified
   * before any byte of it leaves.
   */
  stream(id: string, range?: ByteRange): AsyncIterable<Uint8Array> {
    const blobId = parseBlobId(id);
    if (range !== undefined) checkRange(range);
    return this.streamBlob(blobId, range, 'stream');
  }

  /** Verify one blob (for scrubbing sweeps); a corrupt one is quarantined and reported, not thrown. */
  async scrub(id: string): Promise<ScrubResult> {
    const blobId = parseBlobId(id);
    let size = 0;
    try {
      for await (const chunk of this.streamBlob(blobId, undefined, 'scrub')) size += chunk.length;
    } catch (e) {
      if (isBlobError(e, 'BLOB_NOT_FOUND')) return { status: 'missing' };
      if (isBlobError(e, 'BLOB_CHECKSUM')) return { status: 'quarantined', path: e.quarantinePath };
      throw e;
    }
    return { status: 'ok', size };
  }

  async has(id: string): Promise<boolean> {
    const blobId = parseBlobId(id);
    return (await this.statOrUndefined(this.pathOf(blobId), blobId))?.isFile() === true;
  }

  /** The stored size in bytes (not verified). Errors: BLOB_INVALID_ID, BLOB_NOT_FOUND, BLOB_IO. */
  async size(id: string): Promise<number> {
    return (await this.stat(id)).size;
  }

  /** Size and last-put time, for GC's grace period. Errors: BLOB_INVALID_ID, BLOB_NOT_FOUND, BLOB_IO. */
  async stat(id: string): Promise<BlobStat> {
    const blobId = parseBlobId(id);
    const st = await this.statOrUndefined(this.pathOf(blobId), blobId);
    if (st === undefined || !st.isFile()) throw notFound(blobId);
    return { size: st.size, mtimeMs: st.mtimeMs };
  }

  /**
   * Remove a blob GC found unreferenced in the committed metadata; true if a file was removed,
   * false if there was none. BLOB_PINNED while pinned. Not fsynced: after a power loss a deleted
   * blob may reappear, and the next GC sweep removes it again.
   */
  async delete(id: string, opts: { unlessWrittenAfterMs?: number } = {}): Promise<boolean> {
    const blobId = parseBlobId(id);
    return this.idLock.run(blobId, async () => {
      if (this.isPinned(blobId)) throw new BlobError('BLOB_PINNED', `blob ${blobId} is pinned`, { blobId });
      if (opts.unlessWrittenAfterMs !== undefined) {
        // Checked under the blob's lock: a put of the same body since GC looked keeps it.
        const st = await this.statOrUndefined(this.pathOf(blobId), blobId);
        if (st !== undefined && st.mtimeMs > opts.unlessWrittenAfterMs) return false;
      }
      try {
        await this.fs.unlink(this.pathOf(blobId));
        return true;
      } catch (e) {
        if (errnoCode(e) === 'ENOENT') return false;
        throw toBlobError(e, `deleting blob ${blobId}`, blobId);
      }
    });
  }

  /**
   * Restart a stored blob's GC grace period (its mtime becomes now, fsynced), as a dedup put does;
   * false if no blob is stored. Serialized with delete() on the blob's lock, so a collector that
   * looked before the touch keeps the blob (delete's unlessWrittenAfterMs). A replica answering
   * "I already have it" to a copy request touches first: the copy then counts as a fresh write.
   */
  async touch(id: string): Promise<boolean> {
    const blobId = parseBlobId(id);
    return this.idLock.run(blobId, async () => {
      const path = this.pathOf(blobId);
      const st = await this.statOrUndefined(path, blobId);
      if (st === undefined || !st.isFile()) return false;
      try {
        const now = new Date(this.nowMs());
        await this.fs.utimes(path, now, now);
        const fh = await this.fs.open(path, 'r');
        try {
          await fh.sync(); // the new mtime must survive a power loss, or GC could take an in-flight copy
        } finally {
          await fh.close().catch(() => {});
        }
      } catch (e) {
        if (errnoCode(e) === 'ENOENT') return false;
        throw toBlobError(e, `touching blob ${blobId}`, blobId);
      }
      return true;
    });
  }

  /** Protect a blob from delete() until as many unpin() calls; pins are counted and live in memory only. */
  pin(id: string): void {
    const blobId = parseBlobId(id);
    this.pins.set(blobId, (this.pins.get(blobId) ?? 0) + 1);
  }

  unpin(id: string): void {
    const blobId = parseBlobId(id);
    const n = this.pins.get(blobId) ?? 0;
    assert(n > 0, () => `unpin of blob ${blobId} which is not pinned`);
    if (n === 1) this.pins.delete(blobId);
    else this.pins.set(blobId, n - 1);
  }

  isPinned(id: BlobId): boolean {
    return this.pins.has(id);
  }

  get pinnedCount(): number {
    return this.pins.size;
  }

  /** Every stored id, in lexical order, read directory by directory (blobs put or deleted meanwhile may or may not appear). */
  async *list(): AsyncGenerator<BlobId> {
    for (const ab of await this.readdirSorted(this.dir)) {
      if (!fanoutNamePattern.test(ab)) continue;
      for (const cd of await this.readdirSorted(join(this.dir, ab))) {
        if (!fanoutNamePattern.test(cd)) continue;
        for (const name of await this.readdirSorted(join(this.dir, ab, cd))) {
          if (isBlobId(name) && name.startsWith(ab + cd)) yield name;
        }
      }
    }
  }

  /** Puts running and waiting for a slot (for metrics). */
  get writesInFlight(): { running: number; waiting: number } {
    return { running: this.gate.runningCount, waiting: this.gate.waitingCount };
  }

  private putSizeMax(sizeMax: number | undefined): number {
    if (sizeMax === undefined) return this.limits.blobBytesMax;
    assert(Number.isSafeInteger(sizeMax) && sizeMax >= 0, () => `put sizeMax ${sizeMax} is not a byte count`);
    return Math.min(sizeMax, this.limits.blobBytesMax);
  }

  /** Under the id's lock: move the temp file into place, or drop it when an intact copy exists; fsync; pin. */
  private async placeLocked(temp: string, id: BlobId, size: number, pin: boolean): Promise<boolean> {
    const final = this.pathOf(id);
    const existing = await this.statOrUndefined(final, id);
    // Same size and same SHA-256 name: the stored copy is kept (a same-size bit flip is caught on read or scrub).
    const existed = existing !== undefined && existing.size === size;
    if (existed) {
      await this.fs.unlink(temp).catch(() => {}); // a leftover is removed by the next open()
      const now = new Date(this.nowMs());
      await this.fs.utimes(final, now, now); // restarts GC's grace period (see the header)
    } else {
      if (existing !== undefined) await this.quarantineLocked(id, existing.ino, 'put');
      await this.fs.rename(temp, final);
    }
    // Also when the copy existed: its writer may have crashed between its rename and this fsync.
    await this.fsyncDir(join(this.dir, id.slice(0, 2), id.slice(2, 4)));
    if (pin) this.pin(id);
    return existed;
  }

  /** Create the id's fan-out dirs if needed and make their names durable. */
  private async ensureFanout(id: BlobId): Promise<void> {
    const ab = id.slice(0, 2);
    const abcd = `${ab}/${id.slice(2, 4)}`;
    if (this.durableFanout.has(abcd)) return;
    await this.fs.mkdir(join(this.dir, abcd), { recursive: true, mode: 0o700 });
    await this.fsyncDir(join(this.dir, ab));
    await this.fsyncDir(this.dir);
    this.durableFanout.add(abcd);
  }

  private async *streamBlob(id: BlobId, range: ByteRange | undefined, by: CorruptionDetectedBy): AsyncGenerator<Uint8Array> {
    const fh = await this.openForRead(id);
    try {
      const st = await fh.stat();
      const start = Math.min(range?.start ?? 0, st.size);
      const end = Math.min(range?.end ?? st.size, st.size);
      const hash = start === 0 && end === st.size ? createHash('sha256') : undefined;
      for (let pos = start; pos < end; ) {
        const buf = Buffer.allocUnsafe(Math.min(this.limits.blobReadChunkBytes, end - pos));
        const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
        if (bytesRead === 0) break; // shorter than fstat said: the checksum fails
        const chunk = buf.subarray(0, bytesRead);
        hash?.update(chunk); // before yielding: the consumer may modify its chunk
        pos += bytesRead;
        yield chunk;
      }
      if (hash !== undefined && hash.digest('hex') !== id) throw await this.corrupt(id, st.ino, by);
    } catch (e) {
      throw toBlobError(e, `streaming blob ${id}`, id);
    } finally {
      await fh.close().catch(() => {});
    }
  }

  private async openForRead(id: BlobId): Promise<BlobFileHandle> {
    try {
      return await this.fs.open(this.pathOf(id), 'r');
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') throw notFound(id);
      throw toBlobError(e, `opening blob ${id}`, id);
    }
  }

  /** Quarantine a blob that failed its checksum and build the error to throw. */
  private async corrupt(id: BlobId, inoRead: number, by: CorruptionDetectedBy): Promise<BlobError> {
    try {
      const path = await this.idLock.run(id, () => this.quarantineLocked(id, inoRead, by));
      const where = path === undefined ? 'already removed' : `quarantined as ${path}`;
      return new BlobError('BLOB_CHECKSUM', `blob ${id} does not match its checksum (${by}); ${where}`, {
        blobId: id,
        ...(path === undefined ? {} : { quarantinePath: path }),
      });
    } catch (e) {
      return new BlobError('BLOB_CHECKSUM', `blob ${id} does not match its checksum (${by}); quarantine failed`, {
        blobId: id,
        cause: e,
      });
    }
  }

  /**
   * Move the file we found corrupt (inode `inoRead`) to quarantine/. Leaves the name alone if it was
   * removed or replaced by a fresh copy since we read it. Returns the new path, if it moved one.
   */
  private async quarantineLocked(id: BlobId, inoRead: number, by: CorruptionDetectedBy): Promise<string | undefined> {
    const final = this.pathOf(id);
    const st = await this.statOrUndefined(final, id);
    if (st === undefined || st.ino !== inoRead) return undefined;
    const dest = join(this.quarantineDir, `${id}.${this.nowMs()}`);
    await this.fs.rename(final, dest);
    this.events.emit('blobCorrupt', id, dest, by);
    return dest;
  }

  private async statOrUndefined(path: string, id: BlobId): Promise<BlobFileStat | undefined> {
    try {
      return await this.fs.stat(path);
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return undefined;
      throw toBlobError(e, `stat of blob ${id}`, id);
    }
  }

  private async readdirSorted(path: string): Promise<string[]> {
    try {
      return (await this.fs.readdir(path)).sort();
    } catch (e) {
      const code = errnoCode(e);
      if (code === 'ENOENT' || code === 'ENOTDIR') return [];
      throw toBlobError(e, `listing ${path}`);
    }
  }

  /** fsync(2) a directory so the names created or renamed in it survive a power loss. */
  private async fsyncDir(path: string): Promise<void> {
    const fh = await this.fs.open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close().catch(() => {});
    }
  }
}

function notFound(id: BlobId): BlobError {
  return new BlobError('BLOB_NOT_FOUND', `blob ${id} is not stored here`, { blobId: id });
}

/** BLOB_RANGE_INVALID unless `range` is a half-open range of safe non-negative integers. */
export function checkRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new BlobError('BLOB_RANGE_INVALID', `byte range [${start}, ${end}) is not a range`);
  }
}
