// The calling side of the blob services: copy a local blob to one peer, read a blob (or a range)
// from peers, ask peers which blobs they hold. Must not choose replicas nor write the local store.

import type { NodeId } from '../raft/index.ts';
import { PeerError, type PeerRpc } from '../cluster/peer.ts';
import { type BlobId, blobIdOf } from './blob-id.ts';
import type { BlobStore } from './blob-store.ts';
import { BlobError } from './errors.ts';
import type { ResolvedReplicationLimits } from './limits.ts';
import { type ReadAnswer, blobServices, parseHasAnswer, parsePutBeginAnswer, parseReadAnswer } from './wire.ts';

/** A copy to a peer failed; `cause` is the PeerError or BlobError of the last attempt. */
export class CopyFailed extends BlobError {
  readonly peer: NodeId;
  constructor(peer: NodeId, id: BlobId, cause: unknown) {
    super('BLOB_QUORUM', `copy of ${id} to ${peer} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { blobId: id, cause });
    this.peer = peer;
  }
}

/** Errors after which retrying the same peer at once is pointless: it is down or does not serve blobs. */
function retryable(e: unknown): boolean {
  if (e instanceof PeerError) return e.code === 'TIMEOUT' || (e.code === 'REMOTE' && (e.remoteCode === 'BLOB_UPLOAD' || e.remoteCode === 'BLOB_BUSY' || e.remoteCode === 'BLOB_IO'));
  return false;
}

/** Regroup a stream of chunks into chunks of exactly `bytes` (the last may be shorter). */
async function* rechunk(source: AsyncIterable<Uint8Array>, bytes: number): AsyncGenerator<Uint8Array> {
  let buf = Buffer.allocUnsafe(bytes);
  let filled = 0;
  for await (const chunk of source) {
    for (let off = 0; off < chunk.length; ) {
      const n = Math.min(bytes - filled, chunk.length - off);
      buf.set(chunk.subarray(off, off + n), filled);
      filled += n;
      off += n;
      if (filled === bytes) {
        yield buf;
        buf = Buffer.allocUnsafe(bytes); // the transport may still hold the previous one
        filled = 0;
      }
    }
  }
  if (filled > 0) yield buf.subarray(0, filled);
}

export class BlobPeerClient {
  private readonly rpc: PeerRpc;
  private readonly local: BlobStore;
  private readonly limits: ResolvedReplicationLimits;

  constructor(rpc: PeerRpc, local: BlobStore, limits: ResolvedReplicationLimits) {
    this.rpc = rpc;
    this.local = local;
    this.limits = limits;
  }

  /**
   * Make `peer` hold an fsynced copy of local blob `id` (`size` bytes): one request when it fits a
   * transfer chunk (`inline` saves re-reading it), else begin/chunks/commit streamed from the local
   * file. Restarts from byte 0 on a retryable failure, up to replicaCopyAttemptsMax attempts.
   * Throws CopyFailed.
   */
  async copyTo(peer: NodeId, id: BlobId, size: number, inline?: Uint8Array): Promise<void> {
    let last: unknown;
    for (let attempt = 1; attempt <= this.limits.replicaCopyAttemptsMax; attempt++) {
      try {
        await this.copyOnce(peer, id, size, inline);
        return;
      } catch (e) {
        last = e;
        if (!retryable(e)) break;
      }
    }
    throw new CopyFailed(peer, id, last);
  }

  private async copyOnce(peer: NodeId, id: BlobId, size: number, inline: Uint8Array | undefined): Promise<void> {
    const chunkBytes = this.limits.blobTransferChunkBytes;
    if (size <= chunkBytes) {
      const body = inline ?? (await this.local.get(id));
      await this.call(peer, blobServices.putBegin, { id, size, body });
      return;
    }
    const begin = parsePutBeginAnswer(await this.call(peer, blobServices.putBegin, { id, size }));
    if (begin.status !== 'upload') return;
    const { uploadId } = begin;
    try {
      let offset = 0;
      // The whole-blob stream verifies the local copy at its end, before the commit below.
      for await (const bytes of rechunk(this.local.stream(id), chunkBytes)) {
        await this.call(peer, blobServices.putChunk, { uploadId, offset, bytes });
        offset += bytes.length;
      }
      await this.call(peer, blobServices.putCommit, { uploadId });
    } catch (e) {
      this.call(peer, blobServices.putAbort, { uploadId }).catch(() => {}); // else the peer drops it when idle
      throw e;
    }
  }

  /** Which of `ids` `peer` holds, in order; undefined when the peer could not be asked. */
  async has(peer: NodeId, ids: readonly BlobId[]): Promise<boolean[] | undefined> {
    const out: boolean[] = [];
    try {
      for (let i = 0; i < ids.length; i += this.limits.hasIdsPerRequestMax) {
        const part = ids.slice(i, i + this.limits.hasIdsPerRequestMax);
        out.push(...parseHasAnswer(await this.call(peer, blobServices.has, { ids: part }), part.length));
      }
    } catch {
      return undefined;
    }
    return out;
  }

  /** One range of `peer`'s copy (at most a transfer chunk). */
  async read(peer: NodeId, id: BlobId, offset: number, length: number): Promise<ReadAnswer> {
    const len = Math.min(length, this.limits.blobTransferChunkBytes);
    const answer = parseReadAnswer(await this.call(peer, blobServices.read, { id, offset, length: len }), len);
    if (answer.size > this.local.limits.blobBytesMax) {
      throw new BlobError('BLOB_TOO_LARGE', `${peer} holds ${id} with ${answer.size} bytes, over ${this.local.limits.blobBytesMax}`, { blobId: id });
    }
    return answer;
  }

  /**
   * The whole blob from `peer`, verified against its id; BLOB_CHECKSUM if it does not match.
   * `sizeMax`: past it, BLOB_TOO_LARGE is thrown after the first read (so a caller can stream instead).
   */
  async fetchWhole(peer: NodeId, id: BlobId, sizeMax: number): Promise<Uint8Array> {
    const first = await this.read(peer, id, 0, this.limits.blobTransferChunkBytes);
    if (first.size > sizeMax) throw new BlobError('BLOB_TOO_LARGE', `${id} has ${first.size} bytes, over ${sizeMax}`, { blobId: id });
    let body = first.bytes;
    if (first.size > first.bytes.length) {
      const all = Buffer.allocUnsafe(first.size);
      all.set(first.bytes, 0);
      let filled = first.bytes.length;
      while (filled < first.size) {
        const next = await this.read(peer, id, filled, first.size - filled);
        if (next.size !== first.size || next.bytes.length === 0) throw new BlobError('BLOB_CHECKSUM', `${peer}'s copy of ${id} changed size while read`, { blobId: id });
        all.set(next.bytes, filled);
        filled += next.bytes.length;
      }
      body = all;
    }
    if (body.length !== first.size || blobIdOf(body) !== id) {
      throw new BlobError('BLOB_CHECKSUM', `${peer}'s copy of ${id} does not match its checksum`, { blobId: id });
    }
    return body;
  }

  /** `peer`'s copy in transfer chunks, unverified (a consumer such as BlobStore.put with expectedId verifies). */
  async *chunksFrom(peer: NodeId, id: BlobId): AsyncGenerator<Uint8Array> {
    let size = Number.POSITIVE_INFINITY;
    for (let pos = 0; pos < size; ) {
      const a = await this.read(peer, id, pos, this.limits.blobTransferChunkBytes);
      if (size !== Number.POSITIVE_INFINITY && a.size !== size) throw new BlobError('BLOB_CHECKSUM', `${peer}'s copy of ${id} changed size while read`, { blobId: id });
      size = a.size;
      if (a.bytes.length === 0 && pos < size) throw new BlobError('BLOB_CHECKSUM', `${peer}'s copy of ${id} is shorter than its size`, { blobId: id });
      pos += a.bytes.length;
      if (a.bytes.length > 0) yield a.bytes;
    }
  }

  private call(peer: NodeId, service: string, body: unknown): Promise<unknown> {
    return this.rpc.request(peer, service, body, { timeoutMs: this.limits.peerRequestTimeoutMs });
  }
}
