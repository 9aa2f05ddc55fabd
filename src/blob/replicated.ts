// N-way replicated blobs: puts fsynced on a write quorum of the blob's placement targets; reads from
// the local copy, else a peer's, verified by SHA-256. Must not count references, run GC or repair.
//
// Put, step by step (DESIGN principle 3: `250` only once the body is durable on a write quorum):
//   1. the body is written to the local BlobStore (temp file, fsync, rename, dir fsync) and pinned;
//      a body within one transfer chunk is hashed in memory first and copied to replicas meanwhile;
//   2. the N placement targets are the rendezvous-hash choice over the current members (placement.ts);
//      the local copy counts toward the quorum when this node is one of them;
//   3. every other target receives a copy over PeerRpc and fsyncs it before answering;
//   4. put resolves once a majority of N copies is fsynced; copies still running finish in the
//      background (bounded by replicationsInFlightMax and the per-request deadline), then the
//      replication pin is released; a target that failed is recorded as a repair hint and reported
//      with the blobUnderReplicated event. If the quorum cannot be reached, put throws BLOB_QUORUM.
//
// Why GC cannot take a copy a message in flight needs (test/cluster/blob-gc.test.ts):
//   the front end pins the blob on this node until its metadata commits (BlobStore pins); each
//   replica's copy was written (or, when it existed, touched) by this put, so its mtime is within
//   GC's grace period (1 h) on the replica's own clock, while an SMTP transaction lasts minutes.
//   After the commit the store's reference count is above zero on every node (Raft), so no node's
//   GC deletes it. A put whose message never commits leaves copies that GC removes after the grace.

import type { NodeId } from '../raft/index.ts';
import { assert } from '../raft/assert.ts';
import type { PeerRpc } from '../cluster/peer.ts';
import { TypedEvents } from '../raft/typed-events.ts';
import { type BlobId, blobIdOf, parseBlobId } from './blob-id.ts';
import { type BlobStat, type BlobStore, type ByteRange, type PutOptions, type PutResult, checkRange } from './blob-store.ts';
import type { Blobs } from './blobs.ts';
import { BlobError, isBlobError } from './errors.ts';
import { type ReplicationLimits, type ResolvedReplicationLimits, validateReplicationLimits } from './limits.ts';
import { BlobPeerClient } from './peer-client.ts';
import { BlobPeerService } from './peer-service.ts';
import { placementTargets, preferenceList, writeQuorum } from './placement.ts';
import type { BlobSource } from './temp-writer.ts';
import { WriteGate } from './write-gate.ts';
import { streamFromPeers } from './remote-stream.ts';

/** pino-compatible subset. */
export interface BlobLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
}

export interface ReplicatedBlobStoreOptions {
  /** This node's own store; the replicated store is its only writer besides GC. */
  local: BlobStore;
  rpc: PeerRpc;
  /** The current cluster members, this node included (store.members()). Read at every put and read. */
  members: () => readonly NodeId[];
  limits?: Partial<ReplicationLimits>;
  logger?: BlobLogger;
}

export interface ReplicatedBlobEvents {
  /**
   * Blob `blobId` has only `copies` fsynced copies on its placement targets (fewer than N). Fired
   * after a put's last copy attempt settled, and by the repair loop when a sweep finds one. The
   * repair loop restores the missing copies; listeners must not throw.
   */
  blobUnderReplicated: [blobId: BlobId, copies: number];
}

/** Counters since start, for metrics. */
export interface ReplicationCounters {
  puts: number;
  putsQuorumFailed: number;
  replicaCopiesFailed: number;
  remoteReads: number;
  remoteReadFallbacks: number;
  readRepairs: number;
  repairHintsDropped: number;
}

export class ReplicatedBlobStore implements Blobs {
  readonly local: BlobStore;
  readonly self: NodeId;
  readonly limits: ResolvedReplicationLimits;
  readonly events = new TypedEvents<ReplicatedBlobEvents>();
  readonly client: BlobPeerClient;
  readonly counters: ReplicationCounters = {
    puts: 0,
    putsQuorumFailed: 0,
    replicaCopiesFailed: 0,
    remoteReads: 0,
    remoteReadFallbacks: 0,
    readRepairs: 0,
    repairHintsDropped: 0,
  };

  private readonly members: () => readonly NodeId[];
  private readonly service: BlobPeerService;
  private readonly gate: WriteGate;
  private readonly logger: BlobLogger | undefined;
  /** Repair hints: blob -> targets that may lack a copy. Bounded by repairHintsMax. */
  private readonly hints = new Map<BlobId, Set<NodeId>>();
  private readonly background = new Set<Promise<void>>();
  private readRepairsRunning = 0;

  constructor(o: ReplicatedBlobStoreOptions) {
    this.local = o.local;
    this.self = o.rpc.self;
    this.members = o.members;
    this.limits = validateReplicationLimits(o.limits);
    this.logger = o.logger;
    this.client = new BlobPeerClient(o.rpc, o.local, this.limits);
    this.service = new BlobPeerService(o.local, this.limits);
    this.service.serveOn(o.rpc);
    this.gate = new WriteGate(this.limits.replicationsInFlightMax, this.limits.replicationQueueMax);
    // A corrupt local copy was quarantined by a reader: get a good one back (repair.ts pulls it).
    this.local.events.on('blobCorrupt', (id) => this.addHint(id, [this.self]));
  }

  get dir(): string {
    return this.local.dir;
  }

  /** The placement targets of a blob under the current membership (N of them, fewer if the cluster is smaller). */
  targetsOf(id: BlobId): NodeId[] {
    return placementTargets(id, this.currentMembers(), this.limits.replicationFactor);
  }

  /** Every member but this node, in the blob's preference order: targets first, then the others. */
  peersFor(id: BlobId): NodeId[] {
    return preferenceList(id, this.currentMembers()).filter((m) => m !== this.self);
  }

  currentMembers(): readonly NodeId[] {
    return this.members();
  }

  /**
   * Store a body on a write quorum of its targets (see the header). Errors: those of BlobStore.put,
   * BLOB_BUSY (too many replications), BLOB_QUORUM (too few replicas fsynced it: retry later).
   * A body that fits one transfer chunk is hashed in memory first, so the local write and the
   * replica copies run at once; a larger one is streamed to the local disk, then copied from it.
   */
  async put(source: BlobSource, opts: PutOptions = {}): Promise<PutResult> {
    await this.gate.acquire();
    let started: { id: BlobId; localPut: Promise<PutResult>; inline: Uint8Array | undefined };
    try {
      started = await this.startLocalPut(source, opts);
    } catch (e) {
      this.gate.release();
      throw e;
    }
    const { id, localPut, inline } = started;
    let targets: NodeId[];
    try {
      targets = this.targetsOf(id);
    } catch (e) {
      localPut.then((r) => this.local.unpin(r.id), () => {}).finally(() => this.gate.release());
      throw e;
    }
    this.counters.puts++;
    const remotes = targets.filter((t) => t !== this.self);
    const localCopies = targets.length - remotes.length; // 1 when this node is a target
    const copies = remotes.map((peer) => this.copyCounted(peer, id, localPut, inline));
    this.settleInBackground(id, remotes, localPut, copies, localCopies, targets.length);
    const result = await localPut; // a local failure (disk full) fails the put; copies settle in the background
    if (opts.pin === true) this.local.pin(id); // the caller's own pin
    try {
      await quorum(copies, localCopies, writeQuorum(targets.length), id);
    } catch (e) {
      this.counters.putsQuorumFailed++;
      if (opts.pin === true) this.local.unpin(id);
      throw e;
    }
    return result;
  }

  /**
   * Start the local put (pinned until the last copy settled). A body within one transfer chunk that
   * passes the size and expectedId checks is read into memory and its id known before the write.
   */
  private async startLocalPut(source: BlobSource, opts: PutOptions): Promise<{ id: BlobId; localPut: Promise<PutResult>; inline: Uint8Array | undefined }> {
    const head = await readHead(source, this.limits.blobTransferChunkBytes);
    const sizeMax = Math.min(opts.sizeMax ?? Number.POSITIVE_INFINITY, this.local.limits.blobBytesMax);
    const whole = head.whole !== undefined && head.whole.length <= sizeMax ? head.whole : undefined;
    const localOpts = { ...opts, pin: true };
    if (whole !== undefined) {
      const id = blobIdOf(whole);
      if (opts.expectedId === undefined || opts.expectedId === id) {
        const localPut = this.local.put(whole, localOpts);
        localPut.catch(() => {}); // awaited by put(); this only keeps an early rejection from being unhandled
        return { id, localPut, inline: whole };
      }
    }
    const r = await this.local.put(head.whole ?? head.rest!, localOpts); // throws BLOB_TOO_LARGE, BLOB_CHECKSUM, ...
    return { id: r.id, localPut: Promise.resolve(r), inline: undefined };
  }

  /** Copy to one replica once the local copy exists (inline bodies go at once); true if fsynced there. */
  private async copyCounted(peer: NodeId, id: BlobId, localPut: Promise<PutResult>, inline: Uint8Array | undefined): Promise<boolean> {
    try {
      const size = inline?.length ?? (await localPut).size;
      await this.client.copyTo(peer, id, size, inline);
      return true;
    } catch (e) {
      this.counters.replicaCopiesFailed++;
      this.logger?.warn({ subsystem: 'blob', event: 'replicaCopyFailed', blobId: id, peer, err: e }, 'a replica did not take its copy');
      return false;
    }
  }

  /** After the local put and every copy attempt: release the replication pin and slot, hint and report missing copies. */
  private settleInBackground(id: BlobId, remotes: NodeId[], localPut: Promise<PutResult>, copies: Promise<boolean>[], localCopies: number, replicas: number): void {
    const localOk = localPut.then(() => true, () => false);
    const done = Promise.all([localOk, ...copies])
      .then(([stored, ...ok]) => {
        if (stored) this.local.unpin(id);
        const failed = remotes.filter((_, i) => ok[i] !== true);
        if (!stored || failed.length === 0) return; // a failed put leaves unreferenced copies to GC
        this.addHint(id, failed);
        const have = localCopies + ok.filter((x) => x).length;
        if (have < replicas) this.events.emit('blobUnderReplicated', id, have);
      })
      .catch((e: unknown) => this.logger?.warn({ subsystem: 'blob', event: 'replicationSettleFailed', blobId: id, err: e }, 'a blobUnderReplicated listener threw'))
      .finally(() => {
        this.gate.release();
        this.background.delete(done);
      });
    this.background.add(done);
  }

  /** The whole body, verified: the local copy, else a peer's (targets first), falling back on error or mismatch. */
  async get(id: string): Promise<Uint8Array> {
    const blobId = parseBlobId(id);
    try {
      return await this.local.get(blobId);
    } catch (e) {
      if (!isBlobError(e, 'BLOB_NOT_FOUND') && !isBlobError(e, 'BLOB_CHECKSUM') && !isBlobError(e, 'BLOB_IO')) throw e;
    }
    return this.fetchRemote(blobId, this.local.limits.blobBytesMax);
  }

  /**
   * The body in chunks. A local copy streams as BlobStore.stream does (checksum failure thrown at
   * its end; the copy is quarantined and a repair hint recorded). Without a local copy, a blob up
   * to remoteVerifiedStreamBytesMax is fetched whole and verified before the first byte is yielded,
   * a larger one is streamed from peers (switching peer at the same offset on error) and verified
   * at its end.
   */
  stream(id: string, range?: ByteRange): AsyncIterable<Uint8Array> {
    const blobId = parseBlobId(id);
    if (range !== undefined) checkRange(range);
    return this.streamBlob(blobId, range);
  }

  private async *streamBlob(id: BlobId, range: ByteRange | undefined): AsyncGenerator<Uint8Array> {
    if (await this.local.has(id)) {
      let yielded = false;
      try {
        for await (const chunk of this.local.stream(id, range)) {
          yielded = true;
          yield chunk;
        }
        return;
      } catch (e) {
        if (yielded || !isBlobError(e, 'BLOB_NOT_FOUND')) throw e; // deleted since has(): read a peer's
      }
    }
    let body: Uint8Array | undefined;
    try {
      body = await this.fetchRemote(id, this.limits.remoteVerifiedStreamBytesMax);
    } catch (e) {
      if (!isBlobError(e, 'BLOB_TOO_LARGE')) throw e;
    }
    if (body === undefined) {
      this.counters.remoteReads++;
      yield* streamFromPeers(this.client, this.peersFor(id), id, range);
      return;
    }
    const start = Math.min(range?.start ?? 0, body.length);
    const end = Math.min(range?.end ?? body.length, body.length);
    for (let pos = start; pos < end; pos += this.local.limits.blobReadChunkBytes) {
      yield body.slice(pos, Math.min(end, pos + this.local.limits.blobReadChunkBytes));
    }
  }

  /** Local first, then any peer that holds it. */
  async has(id: string): Promise<boolean> {
    const blobId = parseBlobId(id);
    if (await this.local.has(blobId)) return true;
    for (const peer of this.peersFor(blobId)) {
      if ((await this.client.has(peer, [blobId]))?.[0] === true) return true;
    }
    return false;
  }

  /** Size and last write time of the local copy, else of a peer's (its mtime on the peer's clock). */
  async stat(id: string): Promise<BlobStat> {
    const blobId = parseBlobId(id);
    try {
      return await this.local.stat(blobId);
    } catch (e) {
      if (!isBlobError(e, 'BLOB_NOT_FOUND')) throw e;
    }
    for (const peer of this.peersFor(blobId)) {
      try {
        const a = await this.client.read(peer, blobId, 0, 0);
        return { size: a.size, mtimeMs: a.mtimeMs };
      } catch {
        // next peer
      }
    }
    throw new BlobError('BLOB_NOT_FOUND', `no reachable node holds blob ${blobId}`, { blobId });
  }

  async size(id: string): Promise<number> {
    return (await this.stat(id)).size;
  }

  pin(id: string): void {
    this.local.pin(id);
  }

  unpin(id: string): void {
    this.local.unpin(id);
  }

  /**
   * A verified copy from the first peer (in preference order) that has one; keeps it locally when
   * this node is a target (read repair). BLOB_TOO_LARGE past `sizeMax`; BLOB_NOT_FOUND when every
   * peer answered that it has none; BLOB_UNAVAILABLE otherwise.
   */
  private async fetchRemote(id: BlobId, sizeMax: number): Promise<Uint8Array> {
    this.counters.remoteReads++;
    let allNotFound = true;
    let last: unknown;
    for (const peer of this.peersFor(id)) {
      try {
        const body = await this.client.fetchWhole(peer, id, sizeMax);
        this.readRepair(id, body);
        return body;
      } catch (e) {
        if (isBlobError(e, 'BLOB_TOO_LARGE')) throw e;
        if (!((e as { remoteCode?: string }).remoteCode === 'BLOB_NOT_FOUND')) allNotFound = false;
        last = e;
        this.counters.remoteReadFallbacks++;
      }
    }
    if (allNotFound) throw new BlobError('BLOB_NOT_FOUND', `no node holds blob ${id}`, { blobId: id, cause: last });
    throw new BlobError('BLOB_UNAVAILABLE', `no reachable node gave an intact copy of blob ${id}`, { blobId: id, cause: last });
  }

  /** Keep a fetched copy when this node should hold one; bounded, best effort (the repair loop is the backstop). */
  private readRepair(id: BlobId, body: Uint8Array): void {
    if (!this.targetsOf(id).includes(this.self) || this.readRepairsRunning >= this.limits.readRepairsInFlightMax) return;
    this.readRepairsRunning++;
    const done = this.local
      .put(body, { expectedId: id })
      .then(() => {
        this.counters.readRepairs++;
      })
      .catch((e: unknown) => this.logger?.warn({ subsystem: 'blob', event: 'readRepairFailed', blobId: id, err: e }, 'keeping a fetched copy failed'))
      .finally(() => {
        this.readRepairsRunning--;
        this.background.delete(done);
      });
    this.background.add(done);
  }

  /** Record that `peers` may lack blob `id`; dropped (and counted) past repairHintsMax. */
  addHint(id: BlobId, peers: readonly NodeId[]): void {
    let set = this.hints.get(id);
    if (set === undefined) {
      if (this.hints.size >= this.limits.repairHintsMax) {
        this.counters.repairHintsDropped++;
        return;
      }
      set = new Set();
      this.hints.set(id, set);
    }
    for (const p of peers) set.add(p);
  }

  /** Take up to `max` hinted blob ids (oldest first) for the repair loop. */
  takeHints(max: number): BlobId[] {
    const out: BlobId[] = [];
    for (const id of this.hints.keys()) {
      if (out.length >= max) break;
      out.push(id);
    }
    for (const id of out) this.hints.delete(id);
    return out;
  }

  get hintCount(): number {
    return this.hints.size;
  }

  /** Copies still running after their put resolved, and read repairs (for metrics and tests). */
  get backgroundCount(): number {
    return this.background.size;
  }

  /** Wait for background copies to settle (each is bounded by the request deadline). */
  async drain(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  /** Refuse incoming copies, drop those in progress, and wait for our own background copies. */
  async close(): Promise<void> {
    this.service.close();
    await this.drain();
  }
}

/**
 * Resolves once `have` plus the successful copies reach `need`; rejects with BLOB_QUORUM as soon as
 * the copies still running cannot reach it any more.
 */
function quorum(copies: Promise<boolean>[], have: number, need: number, id: BlobId): Promise<void> {
  return new Promise((resolve, reject) => {
    let ok = have;
    let pending = copies.length;
    const check = (): void => {
      if (ok >= need) resolve();
      else if (ok + pending < need) {
        reject(new BlobError('BLOB_QUORUM', `blob ${id}: ${ok} of the ${need} fsynced copies a write quorum needs`, { blobId: id }));
      }
    };
    check();
    for (const c of copies) {
      void c.then((success) => {
        pending--;
        if (success) ok++;
        check();
      });
    }
  });
}

/**
 * Read up to `maxBytes` of a source: `whole` if it ended within them (an iterable's chunks are
 * copied into it), else `rest`, which yields what was read and then the remainder (stopping it
 * stops the source). Errors of the caller's source propagate unchanged.
 */
async function readHead(source: BlobSource, maxBytes: number): Promise<{ whole?: Uint8Array; rest?: BlobSource }> {
  if (source instanceof Uint8Array) return source.length <= maxBytes ? { whole: source } : { rest: source };
  const it = source[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const r = await it.next();
    if (r.done === true) return { whole: Buffer.concat(head, bytes) };
    assert(r.value instanceof Uint8Array, 'a put source yielded a non-Uint8Array chunk (a Readable with an encoding set?)');
    head.push(r.value);
    bytes += r.value.length;
    if (bytes > maxBytes) return { rest: prefixed(head, it) };
  }
}

async function* prefixed(head: readonly Uint8Array[], it: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  let finished = false;
  try {
    yield* head;
    for (;;) {
      const r = await it.next();
      if (r.done === true) {
        finished = true;
        return;
      }
      yield r.value;
    }
  } finally {
    if (!finished) await Promise.resolve(it.return?.()).catch(() => {});
  }
}
