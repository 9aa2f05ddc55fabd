// Serves this node's local blob store to its peers: receives copies (fsynced before the answer),
// answers batched presence checks and ranged reads. Must not decide placement or talk to peers itself.

import { randomUUID } from 'node:crypto';
import type { NodeId } from '../raft/index.ts';
import type { PeerRpc } from '../cluster/peer.ts';
import type { BlobId } from './blob-id.ts';
import type { BlobStore, PutResult } from './blob-store.ts';
import { ChunkFeed } from './chunk-feed.ts';
import { BlobError, isBlobError } from './errors.ts';
import type { ResolvedReplicationLimits } from './limits.ts';
import {
  type PutBeginAnswer,
  type ReadAnswer,
  blobServices,
  parseHas,
  parsePutBegin,
  parsePutChunk,
  parseRead,
  parseUploadRef,
} from './wire.ts';

/** A copy being received: its bytes go straight into a BlobStore.put through a one-chunk feed. */
interface InboundUpload {
  readonly from: NodeId;
  readonly id: BlobId;
  readonly size: number;
  readonly feed: ChunkFeed;
  readonly done: Promise<PutResult>;
  received: number;
  /** A request on this upload is running: a second one at once is refused (the sender sends in order). */
  busy: boolean;
  idleTimer: NodeJS.Timeout;
}

export class BlobPeerService {
  private readonly local: BlobStore;
  private readonly limits: ResolvedReplicationLimits;
  private readonly uploads = new Map<string, InboundUpload>();
  private closed = false;

  constructor(local: BlobStore, limits: ResolvedReplicationLimits) {
    this.local = local;
    this.limits = limits;
  }

  /** Register the blob services on `rpc`. */
  serveOn(rpc: PeerRpc): void {
    rpc.serve(blobServices.putBegin, (from, body) => this.putBegin(from, body));
    rpc.serve(blobServices.putChunk, (from, body) => this.putChunk(from, body));
    rpc.serve(blobServices.putCommit, (from, body) => this.putCommit(from, body));
    rpc.serve(blobServices.putAbort, async (from, body) => {
      this.drop(this.upload(from, parseUploadRef(body).uploadId), new BlobError('BLOB_UPLOAD', 'copy aborted by its sender'));
      return {};
    });
    rpc.serve(blobServices.has, async (_from, body) => {
      const { ids } = parseHas(body, this.limits.hasIdsPerRequestMax);
      return { have: await Promise.all(ids.map((id) => this.local.has(id))) };
    });
    rpc.serve(blobServices.read, (_from, body) => this.read(body));
  }

  /** Copies being received now (for metrics and tests). */
  get inboundUploads(): number {
    return this.uploads.size;
  }

  /** Drop every copy in progress (their temp files are removed) and refuse new ones. */
  close(): void {
    this.closed = true;
    for (const u of [...this.uploads.values()]) this.drop(u, new BlobError('BLOB_UPLOAD', 'node closing'));
  }

  private async putBegin(from: NodeId, body: unknown): Promise<PutBeginAnswer> {
    const req = parsePutBegin(body);
    if (this.closed) throw new BlobError('BLOB_BUSY', 'node closing');
    if (req.body !== undefined) {
      if (req.body.length > this.limits.blobTransferChunkBytes) {
        throw new BlobError('BLOB_PEER_INVALID', `inline body of ${req.body.length} bytes exceeds one transfer chunk`, { blobId: req.id });
      }
      await this.local.put(req.body, { expectedId: req.id });
      return { status: 'stored' };
    }
    if (await this.haveIntact(req.id, req.size)) return { status: 'have' };
    if (req.size > this.local.limits.blobBytesMax) {
      throw new BlobError('BLOB_TOO_LARGE', `blob of ${req.size} bytes exceeds ${this.local.limits.blobBytesMax}`, { blobId: req.id });
    }
    if (this.uploads.size >= this.limits.inboundUploadsMax) {
      throw new BlobError('BLOB_BUSY', `${this.uploads.size} copies already arriving: retry later`, { blobId: req.id });
    }
    const feed = new ChunkFeed();
    const done = this.local.put(feed, { expectedId: req.id, sizeMax: req.size });
    done.catch(() => {}); // observed by commit or by the next chunk; a dropped upload's failure is expected
    const uploadId = randomUUID();
    const upload: InboundUpload = { from, id: req.id, size: req.size, feed, done, received: 0, busy: false, idleTimer: this.idleTimer(uploadId) };
    this.uploads.set(uploadId, upload);
    return { status: 'upload', uploadId };
  }

  /** A copy of this size exists; its GC grace period restarts, so it counts as freshly written. */
  private async haveIntact(id: BlobId, size: number): Promise<boolean> {
    try {
      if ((await this.local.stat(id)).size !== size) return false; // a wrong-size copy is replaced by the upload
    } catch (e) {
      if (isBlobError(e, 'BLOB_NOT_FOUND')) return false;
      throw e;
    }
    return this.local.touch(id);
  }

  private async putChunk(from: NodeId, body: unknown): Promise<{ received: number }> {
    const req = parsePutChunk(body);
    const u = this.upload(from, req.uploadId);
    if (u.busy || req.offset !== u.received || u.received + req.bytes.length > u.size || req.bytes.length > this.limits.blobTransferChunkBytes) {
      const why = `chunk at ${req.offset}+${req.bytes.length}: expected offset ${u.received} of ${u.size}`;
      this.drop(u, new BlobError('BLOB_UPLOAD', why, { blobId: u.id }));
      throw new BlobError('BLOB_UPLOAD', `copy of ${u.id}: ${why}`, { blobId: u.id });
    }
    u.busy = true;
    try {
      this.touchUpload(req.uploadId, u);
      // The put failing (disk full, idle drop) ends the wait: its error reaches the sender here.
      await Promise.race([u.feed.push(req.bytes), u.done.then(() => {})]);
      u.received += req.bytes.length;
      return { received: u.received };
    } catch (e) {
      this.drop(u, e instanceof Error ? e : new Error(String(e)));
      throw e;
    } finally {
      u.busy = false;
    }
  }

  private async putCommit(from: NodeId, body: unknown): Promise<{ size: number }> {
    const { uploadId } = parseUploadRef(body);
    const u = this.upload(from, uploadId);
    if (u.busy || u.received !== u.size) {
      this.drop(u, new BlobError('BLOB_UPLOAD', 'commit before every byte arrived', { blobId: u.id }));
      throw new BlobError('BLOB_UPLOAD', `copy of ${u.id}: commit after ${u.received} of ${u.size} bytes`, { blobId: u.id });
    }
    u.busy = true;
    clearTimeout(u.idleTimer);
    u.feed.end();
    try {
      const r = await u.done; // resolves after the file and its directory are fsynced
      return { size: r.size };
    } finally {
      this.uploads.delete(uploadId);
    }
  }

  private async read(body: unknown): Promise<ReadAnswer> {
    const req = parseRead(body, this.limits.blobTransferChunkBytes);
    const { size, mtimeMs } = await this.local.stat(req.id);
    if (req.offset === 0 && req.length >= size) {
      return { size, mtimeMs, bytes: await this.local.get(req.id) }; // the whole blob: verified (a corrupt copy is quarantined)
    }
    const parts: Uint8Array[] = [];
    for await (const chunk of this.local.stream(req.id, { start: req.offset, end: req.offset + req.length })) parts.push(chunk);
    return { size, mtimeMs, bytes: Buffer.concat(parts) };
  }

  private upload(from: NodeId, uploadId: string): InboundUpload {
    const u = this.uploads.get(uploadId);
    if (u === undefined || u.from !== from) throw new BlobError('BLOB_UPLOAD', `no copy ${uploadId} in progress from ${from}`);
    return u;
  }

  private drop(u: InboundUpload, why: Error): void {
    clearTimeout(u.idleTimer);
    u.feed.fail(why);
    for (const [key, v] of this.uploads) if (v === u) this.uploads.delete(key);
  }

  private idleTimer(uploadId: string): NodeJS.Timeout {
    const t = setTimeout(() => {
      const u = this.uploads.get(uploadId);
      if (u !== undefined) this.drop(u, new BlobError('BLOB_UPLOAD', `copy idle for ${this.limits.inboundUploadIdleMs} ms`, { blobId: u.id }));
    }, this.limits.inboundUploadIdleMs);
    t.unref();
    return t;
  }

  private touchUpload(uploadId: string, u: InboundUpload): void {
    clearTimeout(u.idleTimer);
    u.idleTimer = this.idleTimer(uploadId);
  }
}
