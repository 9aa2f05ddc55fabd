// The store's replicated state machine over LevelDB: one batch per Ready, exactly-once by request id,
// and snapshots as state transfer (an image fetched from a peer, swapped in whole). Deterministic apply
// only; the proposer side (store.ts) lives elsewhere, and the network only behind the injected PeerRpc.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { ClassicLevel } from 'classic-level';
import type { PeerRpc } from '../cluster/peer.ts';
import type { AppliedCommand, NodeId, StateMachine } from '../raft/index.ts';
import { adjustBlobRefs, applyCommand, type ApplyContext } from './apply.ts';
import { decodeCommand } from './commands.ts';
import { type ApplyResult, StoreError } from './errors.ts';
import { keys } from './keys.ts';
import { storeLimits } from './limits.ts';
import { fsyncTree, recoverSwap, swapIn, swapPaths } from './fs-sync.ts';
import { ImageCache, digestImage } from './snapshot-images.ts';
import { type SnapshotMarker, type TransferLogger, fetchImage, serveSnapshots } from './state-transfer.ts';
import { type Db, Tx, packr } from './tx.ts';
import type { FolderChange } from './types.ts';

export interface StoreMachineEvents {
  /** Folder changes of one applied batch, after it is written. Every replica emits them. */
  changes: [changes: readonly FolderChange[]];
  /** The whole state was replaced by an image (state transfer): no per-folder changes for the jump. */
  restored: [appliedIndex: number];
}

/** How a cluster member reaches the others for state transfer. */
export interface StoreMachineTransfer {
  readonly peers: PeerRpc;
  /** The current members, to ask when the snapshot's maker cannot serve. */
  readonly members: () => readonly NodeId[];
  readonly log: TransferLogger;
}

export interface StoreMachineOptions {
  /** Named in the snapshots this node makes, so a follower knows whom to ask first. */
  nodeId?: string;
  /** Serve images to peers and fetch them from peers; without it only local snapshots restore. */
  transfer?: StoreMachineTransfer;
}

export class StoreMachine implements StateMachine {
  readonly db: Db;
  readonly events = new EventEmitter<StoreMachineEvents>();
  readonly images: ImageCache;
  private readonly dir: string;
  private readonly nodeId: string;
  private readonly transfer: StoreMachineTransfer | undefined;
  private readonly idleTimer: NodeJS.Timeout;
  private applied = 0;
  private restoring = false;
  /** The install in progress, so close() does not close the database in the middle of a swap. */
  private installing: Promise<void> = Promise.resolve();

  private constructor(dir: string, db: Db, o: StoreMachineOptions) {
    this.dir = dir;
    this.db = db;
    this.nodeId = o.nodeId ?? '';
    this.transfer = o.transfer;
    this.images = new ImageCache(() => this.db, () => performance.now());
    this.idleTimer = setInterval(() => this.images.releaseIdle(), 1_000).unref();
  }

  static async open(dir: string, o: StoreMachineOptions = {}): Promise<StoreMachine> {
    const db: Db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await recoverSwap(dir);
      await db.open();
    } catch (e) {
      throw new StoreError('STORAGE', `store: cannot open ${dir}`, { cause: e });
    }
    const m = new StoreMachine(dir, db, o);
    m.applied = await readApplied(db);
    if (o.transfer) serveSnapshots(o.transfer.peers, m.images);
    return m;
  }

  /** The last log index whose effects are in the database (possibly not yet synced). */
  appliedIndex(): number {
    return this.applied;
  }

  apply(): never {
    throw new StoreError('INVALID', 'StoreMachine applies in batches (applyBatch)');
  }

  /** Installing a snapshot image from a peer. */
  isRestoring(): boolean {
    return this.restoring;
  }

  async applyBatch(cmds: readonly AppliedCommand[]): Promise<readonly unknown[]> {
    const tx = new Tx(this.db);
    const changes: FolderChange[] = [];
    const results: ApplyResult<unknown>[] = [];
    for (const cmd of cmds) {
      // An image fetched from a peer may hold entries past the snapshot that named it: they are in already.
      if (cmd.index <= this.applied) results.push(await this.earlierResult(tx, cmd));
      else results.push(await this.applyOnce(tx, cmd, changes));
    }
    const last = cmds[cmds.length - 1];
    if (last && last.index > this.applied) tx.put(keys.applied, last.index);
    else if (last) return results;
    try {
      // Not synced: the Raft log is the durable record; a lost tail is applied again at restart
      // because the applied index travels in the same atomic batch.
      await this.db.batch(tx.operations());
    } catch (e) {
      throw new StoreError('STORAGE', 'store: writing an applied batch failed', { cause: e });
    }
    if (last) this.applied = last.index;
    if (changes.length > 0) this.events.emit('changes', changes);
    return results;
  }

  private async earlierResult(tx: Tx, cmd: AppliedCommand): Promise<ApplyResult<unknown>> {
    const seen = await tx.get<ApplyResult<unknown>>(keys.request(Buffer.from(cmd.requestId).toString('hex')));
    return seen ?? { ok: false, code: 'UNAVAILABLE', message: `store: entry ${cmd.index} was applied before this node's snapshot` };
  }

  /** A retried proposal (same request id) gets the first result and changes nothing (DESIGN principle 5). */
  private async applyOnce(tx: Tx, cmd: AppliedCommand, changes: FolderChange[]): Promise<ApplyResult<unknown>> {
    const rid = Buffer.from(cmd.requestId).toString('hex');
    const seen = await tx.get<ApplyResult<unknown>>(keys.request(rid));
    if (seen !== undefined) return seen;
    const local: FolderChange[] = [];
    const cx: ApplyContext = {
      tx,
      index: cmd.index,
      change: (c) => local.push(c),
      blobRef: (blobId, delta) => adjustBlobRefs(tx, blobId, delta),
    };
    let result: ApplyResult<unknown>;
    try {
      result = await applyCommand(cx, decodeCommand(cmd.data));
    } catch (e) {
      if (e instanceof StoreError) throw e;
      // A command that does not decode came from a buggy proposer: refuse it the same way everywhere.
      result = { ok: false, code: 'INVALID', message: `malformed command: ${(e as Error).message}` };
    }
    if (result.ok) changes.push(...local);
    tx.put(keys.request(rid), result);
    tx.put(keys.requestQueue(cmd.index), rid);
    const evict = cmd.index - storeLimits.requestsRememberedMax;
    if (evict > 0) {
      const old = await tx.get<string>(keys.requestQueue(evict));
      if (old !== undefined) {
        tx.del(keys.request(old));
        tx.del(keys.requestQueue(evict));
      }
    }
    return result;
  }

  /**
   * Called before the Raft log is compacted: make everything applied durable.
   * The Raft snapshot is only a marker naming this node; the state itself is this database,
   * and a follower that needs it fetches an image of it over PeerRpc (state-transfer.ts).
   */
  async snapshot(): Promise<Uint8Array> {
    try {
      await this.db.put(keys.applied, packr.pack(this.applied), { sync: true });
    } catch (e) {
      throw new StoreError('STORAGE', 'store: syncing before a snapshot failed', { cause: e });
    }
    const marker: SnapshotMarker = { nodeId: this.nodeId, snapshotId: randomBytes(8).toString('hex'), appliedIndex: this.applied };
    return packr.pack(marker);
  }

  /**
   * Synchronous when this database already holds the snapshot (the bootstrap image, our own
   * marker, a peer's marker we are past); otherwise fetches an image from a peer and swaps it in.
   */
  restore(data: Uint8Array, signal?: AbortSignal): void | Promise<void> {
    if (data.byteLength === 0) {
      // The bootstrap snapshot (empty image) is the empty store.
      if (this.applied === 0) return;
      throw new StoreError('INVALID', `store: an empty snapshot over a store at ${this.applied}`);
    }
    const marker = decodeMarker(data);
    if (marker.appliedIndex <= this.applied) return;
    if (this.transfer === undefined) {
      throw new StoreError('UNAVAILABLE', `store: snapshot at ${marker.appliedIndex} needs state transfer, which this node has not configured`);
    }
    const done = this.install(this.transfer, marker, signal ?? new AbortController().signal);
    this.installing = done.catch(() => undefined);
    return done;
  }

  private async install(t: StoreMachineTransfer, marker: SnapshotMarker, signal: AbortSignal): Promise<void> {
    this.restoring = true;
    try {
      const { incoming } = swapPaths(this.dir);
      const sources = (): NodeId[] => {
        const others = t.members().filter((m) => m !== marker.nodeId);
        return marker.nodeId === '' ? [...others] : [marker.nodeId as NodeId, ...others];
      };
      const got = await fetchImage({ peers: t.peers, sources, minApplied: marker.appliedIndex, dir: incoming, signal, log: t.log });
      await fsyncTree(incoming);
      signal.throwIfAborted();
      await this.images.closeAll();
      await this.db.close();
      try {
        await swapIn(this.dir, incoming);
      } finally {
        await this.db.open();
      }
      this.applied = await readApplied(this.db);
      if (this.applied !== got.appliedIndex) throw new StoreError('STORAGE', `store: swapped-in image holds ${this.applied}, expected ${got.appliedIndex}`);
      t.log.info?.({ subsystem: 'store', event: 'snapshotInstalled', nodeId: t.peers.self, source: got.source, appliedIndex: got.appliedIndex, records: got.records, bytes: got.bytes }, 'installed a snapshot image from a peer');
      this.events.emit('restored', this.applied);
    } finally {
      this.restoring = false;
    }
  }

  /** Digest of the whole database at one point, with the applied index it holds: replicas at one index agree. */
  async digest(): Promise<{ appliedIndex: number; records: number; bytes: number; sha256: string }> {
    await this.installing; // the database is closed for a moment while an image is swapped in
    const snapshot = this.db.snapshot();
    try {
      const raw = await this.db.get(keys.applied, { snapshot });
      const appliedIndex = raw === undefined ? 0 : (packr.unpack(raw) as number);
      return { appliedIndex, ...(await digestImage(this.db, snapshot)) };
    } finally {
      await snapshot.close();
    }
  }

  async close(): Promise<void> {
    clearInterval(this.idleTimer);
    await this.installing;
    await this.images.closeAll();
    await this.db.close();
  }
}

async function readApplied(db: Db): Promise<number> {
  const raw = await db.get(keys.applied);
  return raw === undefined ? 0 : (packr.unpack(raw) as number);
}

/** A snapshot marker; markers written before state transfer carry only appliedIndex. */
function decodeMarker(data: Uint8Array): SnapshotMarker {
  let v: Partial<SnapshotMarker> | null;
  try {
    v = packr.unpack(data) as Partial<SnapshotMarker> | null;
  } catch (e) {
    throw new StoreError('INVALID', 'store: snapshot marker does not decode', { cause: e });
  }
  if (v === null || typeof v !== 'object' || !Number.isSafeInteger(v.appliedIndex)) throw new StoreError('INVALID', 'store: malformed snapshot marker');
  return { nodeId: typeof v.nodeId === 'string' ? v.nodeId : '', snapshotId: typeof v.snapshotId === 'string' ? v.snapshotId : '', appliedIndex: v.appliedIndex! };
}
