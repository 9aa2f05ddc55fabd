// State transfer between nodes (G6): serves images over PeerRpc ('store.snapshot') and fetches one into a new folder.
// Must not touch the live database on the fetching side: the state machine swaps the verified folder in itself.

import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { ClassicLevel } from 'classic-level';
import type { PeerRpc } from '../cluster/peer.ts';
import type { NodeId } from '../raft/index.ts';
import { StoreError } from './errors.ts';
import { keys } from './keys.ts';
import { replicationLimits } from './replication-limits.ts';
import { type ImageCache, type ImageChunk, type ImageDigest, type ImageInfo, digestImage, imageDigestUpdate } from './snapshot-images.ts';
import { type Db, packr } from './tx.ts';

export const snapshotService = 'store.snapshot';

/** What the Raft snapshot carries instead of the state: who made it, which one, how far it goes. */
export interface SnapshotMarker {
  readonly nodeId: string;
  readonly snapshotId: string;
  readonly appliedIndex: number;
}

type SnapshotRequest = { op: 'open'; minApplied: number } | { op: 'chunk'; imageId: string; after?: Uint8Array };

/** Answer 'store.snapshot' requests from the images of this node. */
export function serveSnapshots(peers: PeerRpc, images: ImageCache): void {
  peers.serve(snapshotService, async (_from, body) => {
    const req = body as Partial<SnapshotRequest> | null;
    if (req?.op === 'open' && Number.isSafeInteger(req.minApplied)) return images.open(req.minApplied!);
    if (req?.op === 'chunk' && typeof req.imageId === 'string') {
      const after = (req as { after?: unknown }).after;
      if (after !== undefined && !(after instanceof Uint8Array)) throw new StoreError('INVALID', 'store.snapshot: after must be bytes');
      return images.chunk(req.imageId, after);
    }
    throw new StoreError('INVALID', 'store.snapshot: unknown request');
  });
}

export interface TransferLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
  info?(fields: Record<string, unknown>, msg: string): void;
}

export interface FetchOptions {
  readonly peers: PeerRpc;
  /** Members to ask, best first (the snapshot's maker, then the others). Called again on each round. */
  readonly sources: () => readonly NodeId[];
  readonly minApplied: number;
  /** A new folder for the image (removed first if it exists). */
  readonly dir: string;
  readonly signal: AbortSignal;
  readonly log: TransferLogger;
}

export interface FetchedImage {
  readonly appliedIndex: number;
  readonly records: number;
  readonly bytes: number;
  readonly source: NodeId;
}

/**
 * Fetch a verified image holding at least minApplied into `dir`, trying the sources in turn until
 * one succeeds or `signal` aborts (rejects with the abort reason then). Nothing is lost by
 * retrying: the folder is rebuilt from scratch for each attempt.
 */
export async function fetchImage(o: FetchOptions): Promise<FetchedImage> {
  let delayMs: number = replicationLimits.snapshotRetryDelayMsMin;
  for (;;) {
    for (const source of o.sources()) {
      o.signal.throwIfAborted();
      if (source === o.peers.self) continue;
      try {
        return await fetchFrom(o, source);
      } catch (e) {
        o.signal.throwIfAborted();
        o.log.warn({ subsystem: 'store', event: 'snapshotFetchFailed', nodeId: o.peers.self, source, err: String(e) }, 'fetching a snapshot image failed; trying another member');
      }
    }
    await sleep(delayMs, o.signal);
    delayMs = Math.min(delayMs * 2, replicationLimits.snapshotRetryDelayMsMax);
  }
}

async function fetchFrom(o: FetchOptions, source: NodeId): Promise<FetchedImage> {
  const call = (body: SnapshotRequest): Promise<unknown> =>
    o.peers.request(source, snapshotService, body, { timeoutMs: replicationLimits.snapshotRequestTimeoutMs, signal: o.signal });
  const img = checkInfo(await call({ op: 'open', minApplied: o.minApplied }));
  if (img.appliedIndex < o.minApplied) throw new StoreError('UNAVAILABLE', `${source} offered an image at ${img.appliedIndex} < ${o.minApplied}`);
  await rm(o.dir, { recursive: true, force: true });
  const db: Db = new ClassicLevel<string, Uint8Array>(o.dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  let written: ImageDigest;
  try {
    await db.open();
    const { got, expected } = await copyChunks(db, (after) => call({ op: 'chunk', imageId: img.imageId, ...(after ? { after } : {}) }));
    if (got.records !== expected.records || got.bytes !== expected.bytes || got.sha256 !== expected.sha256) {
      throw new StoreError('INVALID', `image from ${source} does not match its digest (${got.records}/${expected.records} records)`);
    }
    await db.close();
    // Verify what reached the disk, not only what crossed the network.
    await db.open();
    written = await digestImage(db);
    if (written.sha256 !== expected.sha256) throw new StoreError('STORAGE', `image from ${source} reads back with another digest`);
    const applied = await db.get(keys.applied);
    if ((applied === undefined ? 0 : packr.unpack(applied)) !== img.appliedIndex) throw new StoreError('INVALID', `image from ${source} holds another applied index`);
  } finally {
    await db.close().catch(() => undefined);
  }
  return { appliedIndex: img.appliedIndex, records: written.records, bytes: written.bytes, source };
}

/** Write every chunk as one batch, hashing as the sender did; the last chunk says what to expect. */
async function copyChunks(db: Db, next: (after: Uint8Array | undefined) => Promise<unknown>): Promise<{ got: ImageDigest; expected: ImageDigest }> {
  const h = createHash('sha256');
  let records = 0;
  let bytes = 0;
  let after: Uint8Array | undefined;
  for (;;) {
    const chunk = checkChunk(await next(after));
    const ops: { type: 'put'; key: Uint8Array; value: Uint8Array }[] = [];
    for (let i = 0; i < chunk.records.length; i += 2) {
      const key = chunk.records[i]!;
      const value = chunk.records[i + 1]!;
      if (after !== undefined && Buffer.compare(key, after) <= 0) throw new StoreError('INVALID', 'image chunk out of key order');
      imageDigestUpdate(h, key, value);
      ops.push({ type: 'put', key, value });
      after = key;
      records++;
      bytes += key.byteLength + value.byteLength;
    }
    if (ops.length > 0) await db.batch(ops, { keyEncoding: 'view', valueEncoding: 'view' });
    if (chunk.last) return { got: { records, bytes, sha256: h.digest('hex') }, expected: chunk.digest! };
    if (ops.length === 0) throw new StoreError('INVALID', 'empty image chunk that is not the last');
  }
}

function checkInfo(v: unknown): ImageInfo {
  const i = v as Partial<ImageInfo> | null;
  const ok = i !== null && typeof i === 'object' && typeof i.imageId === 'string' && Number.isSafeInteger(i.appliedIndex);
  if (!ok) throw new StoreError('INVALID', 'store.snapshot: malformed image description');
  return i as ImageInfo;
}

function checkChunk(v: unknown): ImageChunk {
  const c = v as Partial<ImageChunk> | null;
  const ok =
    c !== null && typeof c === 'object' && typeof c.last === 'boolean' && Array.isArray(c.records) &&
    c.records.length % 2 === 0 && c.records.every((r) => r instanceof Uint8Array) && (!c.last || isDigest(c.digest));
  if (!ok) throw new StoreError('INVALID', 'store.snapshot: malformed chunk');
  return c as ImageChunk;
}

function isDigest(d: unknown): d is ImageDigest {
  const x = d as Partial<ImageDigest> | null | undefined;
  return x != null && typeof x.sha256 === 'string' && Number.isSafeInteger(x.records) && Number.isSafeInteger(x.bytes);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
