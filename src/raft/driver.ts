// RaftDriver: runs one node's Ready loop (persist -> send -> apply -> advance) and owns its timers, storage and transport.
// Must not make Raft decisions (elections, commit, membership): those stay in the pure core it drives.

import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { assert } from './assert.ts';
import type { RaftConfig } from './config.ts';
import { RaftError } from './errors.ts';
import { ConfWaiters, ProposalWaiters, ReadWaiters, type ReadBatch } from './driver-waiters.ts';
import { type Random, seededRandom } from './random.ts';
import { decodeConfChange } from './raft.ts';
import { RawNode, type Ready, type SoftState, type Status } from './raw-node.ts';
import { decodeRequest, encodeRequest, requestIdBytesMax, requestKey } from './request-envelope.ts';
import type { DurableStorage } from './storage.ts';
import type { Transport } from './transport.ts';
import { TypedEvents } from './typed-events.ts';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type LogIndex,
  type Message,
  type MessageType,
  type NodeId,
  type Snapshot,
  type Term,
  index,
  noNode,
} from './types.ts';

export type { Transport } from './transport.ts';

/** One committed application command, as the state machine sees it. */
export interface AppliedCommand {
  readonly index: LogIndex;
  readonly term: Term;
  /**
   * The proposer's request id. A client that retries after a TIMEOUT reuses
   * it, so the same command can be committed twice: the state machine must
   * remember recent ids (deterministically, e.g. a bounded table evicted in
   * log order) and apply each once, answering a duplicate with the first
   * result. The driver cannot do this: only the state machine's image,
   * snapshotted with it, survives restarts and reaches every replica.
   */
  readonly requestId: Uint8Array;
  readonly data: Uint8Array;
}

/**
 * The replicated state machine. apply() must be deterministic: every replica
 * applies the same commands in the same order and must reach the same state.
 * A throw is a programmer error: the driver stops (this replica would diverge).
 */
export interface StateMachine {
  /** Apply one command; the result goes back to the proposer's promise (on the proposing node only). */
  apply(cmd: AppliedCommand): unknown;
  /**
   * Optional: apply consecutive commands together (one disk write for a
   * persistent state machine). Results in the same order. Used instead of
   * apply() when present.
   */
  applyBatch?(cmds: readonly AppliedCommand[]): Promise<readonly unknown[]>;
  /**
   * An image of everything applied so far. A state machine that persists
   * itself must have made its state durable up to here before resolving: the
   * log before this point is then compacted away.
   */
  snapshot(): Uint8Array | Promise<Uint8Array>;
  /**
   * Replace the whole state with an image; an empty image (a bootstrap snapshot) is the initial state.
   * May return a Promise (an image fetched from a peer): the driver then applies nothing more and
   * does not advance past the snapshot until it resolves. `signal` aborts it when the driver stops.
   * A rejection (other than after an abort) stops the driver: the replica cannot continue.
   */
  restore(data: Uint8Array, signal?: AbortSignal): void | Promise<void>;
}

/** Time, injected: the driver never reads a clock or starts a timer of its own. */
export interface Timers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
  /** Run fn once pending I/O callbacks had their turn. */
  setImmediate(fn: () => void): void;
  /** Monotonic milliseconds, for request deadlines. */
  nowMs(): number;
}

export const systemTimers: Timers = {
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as ReturnType<typeof setInterval>),
  setImmediate: (fn) => {
    setImmediate(fn);
  },
  nowMs: () => performance.now(),
};

export interface DriverLimits {
  /** Inbound messages queued while a Ready is persisted. Past it the oldest non-vote message is dropped and counted. Default 10,000. */
  inboxMessagesMax: number;
  /** Proposals accepted and not yet applied or failed. Past it propose() fails at once with PROPOSALS_FULL. Default 10,000. */
  proposalsPendingMax: number;
  /** read() callers waiting. Past it read() fails at once with READS_FULL. Default 10,000. */
  readsPendingMax: number;
  /** A proposal not applied locally within this fails with TIMEOUT (it may still commit later). Default 5,000 ms. */
  proposalTimeoutMs: number;
  /** A read not confirmed and applied within this fails with TIMEOUT. Default 5,000 ms. */
  readTimeoutMs: number;
  /** Ticks remembered while the loop is busy; more are dropped, as etcd's tick channel does. Default 128. */
  ticksPendingMax: number;
  /** Ready cycles run back to back before the loop lets I/O callbacks run. Default 16. */
  cyclesPerYieldMax: number;
}

export const driverLimitsDefault: DriverLimits = {
  inboxMessagesMax: 10_000,
  proposalsPendingMax: 10_000,
  readsPendingMax: 10_000,
  proposalTimeoutMs: 5_000,
  readTimeoutMs: 5_000,
  ticksPendingMax: 128,
  cyclesPerYieldMax: 16,
};

/** pino-compatible subset. */
export interface DriverLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

const stderrLogger: DriverLogger = {
  warn: (fields, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', ...fields, msg })}\n`),
  error: (fields, msg) => process.stderr.write(`${JSON.stringify({ level: 'error', ...fields, msg })}\n`),
};

/** A node's Raft configuration minus what the driver supplies (storage; randomness unless given). */
export type NodeOptions = Omit<RaftConfig, 'storage' | 'random'> & { random?: Random };

export interface RaftDriverOptions {
  /** A ready RawNode over `storage`, or the configuration to build one. */
  node: RawNode | NodeOptions;
  /** Owned by the driver from start() on: stop() closes it. */
  storage: DurableStorage;
  /** Owned by the driver from start() on: stop() closes it. */
  transport: Transport;
  stateMachine: StateMachine;
  /** Milliseconds per Raft tick. Default 100 (with electionTicks 10: elections after 1-2 s). */
  tickMs?: number;
  timers?: Timers;
  /** Source of request ids and read contexts. Default node:crypto. */
  randomBytes?: (n: number) => Uint8Array;
  limits?: Partial<DriverLimits>;
  /** Snapshot the state machine after this many applied entries; 0 never. Default 10,000. */
  snapshotEntries?: number;
  /** Entries kept behind a snapshot so slow followers catch up from the log. Default 5,000. */
  snapshotKeepEntries?: number;
  /**
   * A leader sends AppendEntries and heartbeats before its own write is
   * durable (Raft thesis §10.2.1; etcd's raftNode does the same): it counts
   * itself toward a commit only when it steps a follower's answer, in a later
   * cycle, after this one's save resolved. Readies that carry votes, a new
   * term or vote, or a snapshot always wait for the disk. Default true.
   */
  leaderSendsBeforePersist?: boolean;
  logger?: DriverLogger;
}

/** Events, emitted synchronously from the loop; a throwing listener is logged and ignored. */
export interface DriverEvents {
  /** This node's view of the leader changed (noNode: none known). In order, at most once per Ready. */
  leaderChanged: [term: Term, leaderId: NodeId];
  /** Entries up to `index` are applied and their proposers resolved. Monotonic. */
  applied: [index: LogIndex];
  /** A membership change was applied and persisted. */
  confChanged: [conf: ConfState];
  /** The driver stopped; `error` is set when it stopped because it could not continue safely. */
  stopped: [error: RaftError | undefined];
}

export interface DriverStatus {
  readonly raft: Status;
  readonly state: DriverState;
  readonly applied: LogIndex;
  readonly snapshotIndex: LogIndex;
  /** The state machine is installing a snapshot (restore() has not resolved yet). */
  readonly restoring: boolean;
  readonly proposalsPending: number;
  readonly readsPending: number;
  readonly inboxMessages: number;
  /** Inbound messages dropped because the inbox was full. */
  readonly inboxDropped: number;
  readonly ticksDropped: number;
  /** Ready cycles run, and proposal batches handed to the core (entries per fsync = proposed / batches). */
  readonly cycles: number;
  readonly proposalBatches: number;
  readonly proposed: number;
}

export type DriverState = 'new' | 'running' | 'stopping' | 'stopped';

/** node:crypto randomness drawn 4 KiB at a time: one call per 256 request ids instead of one each. */
function pooledRandomBytes(): (n: number) => Uint8Array {
  const poolBytes = 4096;
  let pool = new Uint8Array(0);
  let at = 0;
  return (n) => {
    if (n > poolBytes) return cryptoRandomBytes(n);
    if (at + n > pool.byteLength) {
      pool = cryptoRandomBytes(poolBytes);
      at = 0;
    }
    at += n;
    return pool.subarray(at - n, at);
  };
}

/** An error and its causes, outermost first, so a wrapped LevelDB or fs error keeps its errno text in the log. */
function causeChain(e: unknown): string {
  const parts: string[] = [];
  for (let c: unknown = e; c !== undefined && c !== null && parts.length < 8; c = (c as { cause?: unknown }).cause) parts.push(String(c));
  return parts.join(' <- ');
}

const isVoteMessage = (t: MessageType): boolean =>
  t === 'vote' || t === 'voteResp' || t === 'preVote' || t === 'preVoteResp';

export class RaftDriver {
  readonly id: NodeId;
  readonly node: RawNode;
  readonly events = new TypedEvents<DriverEvents>();

  private readonly storage: DurableStorage;
  private readonly transport: Transport;
  private readonly sm: StateMachine;
  private readonly timers: Timers;
  private readonly randomBytes: (n: number) => Uint8Array;
  private readonly limits: DriverLimits;
  private readonly tickMs: number;
  private readonly snapshotEntries: number;
  private readonly snapshotKeepEntries: number;
  private readonly leaderSendsBeforePersist: boolean;
  private readonly log: DriverLogger;

  // Inputs, queued until the next cycle: the core is never stepped between ready() and advance().
  private inbox: Message[] = [];
  private ticksPending = 0;
  private readonly unreachable = new Set<NodeId>();
  private snapsSent: NodeId[] = [];
  private proposalQueue: { key: string; entry: Uint8Array }[] = [];
  private transferTo: NodeId | undefined;
  private reissueReads = false;
  private readonly proposals = new ProposalWaiters();
  private readonly reads = new ReadWaiters();
  private confQueue: { cc: ConfChange; deadlineMs: number; resolve: (c: ConfState) => void; reject: (e: Error) => void }[] = [];
  private readonly confWaiters = new ConfWaiters<ConfState>();
  /** A restore() started by start(), awaited by the loop before its first cycle. */
  private startRestore: Promise<void> | undefined;
  private restoring = false;
  private readonly restoreAbort = new AbortController();

  private applied: LogIndex;
  private snapshotIndex: LogIndex;
  private persistedTerm: Term;
  private persistedVote: NodeId;
  private lead: NodeId = noNode;

  private state: DriverState = 'new';
  private fatal: RaftError | undefined;
  private tickHandle: unknown;
  private wakeUp: (() => void) | undefined;
  private loopDone: Promise<void> = Promise.resolve();
  private stopDone: Promise<void> | undefined;
  private readonly counters = { inboxDropped: 0, ticksDropped: 0, cycles: 0, proposalBatches: 0, proposed: 0 };

  constructor(opts: RaftDriverOptions) {
    this.storage = opts.storage;
    this.transport = opts.transport;
    this.sm = opts.stateMachine;
    this.timers = opts.timers ?? systemTimers;
    this.randomBytes = opts.randomBytes ?? pooledRandomBytes();
    this.limits = { ...driverLimitsDefault, ...opts.limits };
    this.tickMs = opts.tickMs ?? 100;
    this.snapshotEntries = opts.snapshotEntries ?? 10_000;
    this.snapshotKeepEntries = opts.snapshotKeepEntries ?? 5_000;
    this.leaderSendsBeforePersist = opts.leaderSendsBeforePersist ?? true;
    this.log = opts.logger ?? stderrLogger;
    this.validate();
    this.node = opts.node instanceof RawNode ? opts.node : this.makeNode(opts.node);
    assert(this.node.raft.log.storage === this.storage, 'the RawNode must read from the driver storage');
    this.id = this.node.raft.id;
    const hs = this.storage.initialState().hardState;
    this.persistedTerm = hs.term;
    this.persistedVote = hs.vote;
    this.applied = this.node.status().applied;
    this.snapshotIndex = this.storage.snapshot().meta.index;
  }

  private validate(): void {
    const l = this.limits;
    const positive = (name: string, v: number): void => {
      if (!(Number.isFinite(v) && v > 0)) throw new RaftError('CONFIG_INVALID', `raft driver: ${name} must be > 0`);
    };
    positive('tickMs', this.tickMs);
    for (const [k, v] of Object.entries(l)) positive(k, v as number);
    if (!Number.isInteger(this.snapshotEntries) || this.snapshotEntries < 0) {
      throw new RaftError('CONFIG_INVALID', 'raft driver: snapshotEntries must be an integer >= 0');
    }
    if (!Number.isInteger(this.snapshotKeepEntries) || this.snapshotKeepEntries < 0) {
      throw new RaftError('CONFIG_INVALID', 'raft driver: snapshotKeepEntries must be an integer >= 0');
    }
  }

  /**
   * The state machine restarts from the stored snapshot (start()), so the core
   * must not hand out the entries it covers again: applied starts there, as
   * etcd's Config.Applied, unless the caller's state machine is further along.
   */
  private makeNode(o: NodeOptions): RawNode {
    const seed = Buffer.from(this.randomBytes(4)).readUInt32BE(0);
    const applied = index(Math.max(o.applied ?? 0, this.storage.snapshot().meta.index));
    return new RawNode({ ...o, applied, storage: this.storage, random: o.random ?? seededRandom(seed) });
  }

  // ---- lifecycle ----

  /** Restore the state machine from the stored snapshot, then run the loop and the tick timer. */
  start(): void {
    assert(this.state === 'new', () => `driver ${this.id} started in state ${this.state}`);
    const snap = this.storage.snapshot();
    // A state machine that persists itself passes `applied` past the snapshot and keeps its state.
    if (snap.meta.index > 0 && this.applied <= snap.meta.index) {
      assert(this.applied === snap.meta.index, () => `RawNode applied ${this.applied} below the stored snapshot ${snap.meta.index}: configure applied`);
      const r = this.sm.restore(snap.data, this.restoreAbort.signal);
      if (r !== undefined) this.startRestore = r;
    }
    this.state = 'running';
    this.transport.onMessage((m) => this.receive(m));
    this.transport.onUnreachable?.((peer) => {
      if (this.state !== 'running') return;
      this.unreachable.add(peer);
      this.wake();
    });
    this.tickHandle = this.timers.setInterval(() => this.onTick(), this.tickMs);
    this.loopDone = this.run();
  }

  /**
   * Finish the current cycle, fail every waiting caller with STOPPED (or the
   * error that stopped the driver), then close the transport and the storage.
   */
  stop(): Promise<void> {
    this.stopDone ??= this.shutdown();
    return this.stopDone;
  }

  private async shutdown(): Promise<void> {
    const wasStarted = this.state !== 'new';
    this.state = 'stopping';
    if (this.tickHandle !== undefined) this.timers.clearInterval(this.tickHandle);
    this.restoreAbort.abort();
    this.wake();
    await this.loopDone;
    const err = this.fatal ?? new RaftError('STOPPED', `raft node ${this.id} stopped`);
    this.proposals.rejectAll(err);
    this.reads.rejectAll(err);
    this.confWaiters.rejectAll(err);
    for (const c of this.confQueue) c.reject(err);
    this.confQueue = [];
    this.proposalQueue = [];
    this.inbox = [];
    await this.closeQuietly('transport', () => this.transport.close());
    if (wasStarted) await this.closeQuietly('storage', () => this.storage.close());
    this.state = 'stopped';
    this.emit('stopped', this.fatal);
  }

  private async closeQuietly(what: string, close: () => Promise<void>): Promise<void> {
    try {
      await close();
    } catch (e) {
      this.log.warn({ subsystem: 'raft', event: 'closeFailed', nodeId: this.id, what, err: String(e) }, `closing the ${what} failed`);
    }
  }

  /** The node cannot continue safely (storage failed, the state machine threw, an invariant broke). */
  private fail(e: unknown): void {
    if (this.fatal !== undefined) return;
    this.fatal = e instanceof RaftError ? e : new RaftError('STOPPED', `raft node ${this.id} stopped on an internal error`, { cause: e });
    const cause = e instanceof RaftError && e.cause !== undefined ? e.cause : e;
    this.log.error(
      { subsystem: 'raft', event: 'driverFailed', nodeId: this.id, code: this.fatal.code, err: causeChain(cause), stack: (cause as Error)?.stack },
      'raft driver stopped: it cannot continue safely',
    );
    void this.stop();
  }

  // ---- the caller's API ----

  /**
   * Replicate `data`; resolves with the state machine's result once the entry
   * is applied on this node (also when this node is a follower that forwarded
   * it). Fails with RaftError: PROPOSAL_DROPPED / NOT_LEADER / UNCOMMITTED_FULL
   * / PROPOSAL_TOO_LARGE from the core, PROPOSALS_FULL, TIMEOUT (outcome
   * unknown: retry with the same requestId), STOPPED, STORAGE. A proposal
   * that this node learns through a snapshot instead of its entry (it fell
   * behind meanwhile) ends in TIMEOUT too.
   */
  propose(data: Uint8Array, opts: { requestId?: Uint8Array } = {}): Promise<unknown> {
    const refused = this.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    if (this.proposals.size() >= this.limits.proposalsPendingMax) {
      return Promise.reject(new RaftError('PROPOSALS_FULL', `${this.proposals.size()} proposals pending`));
    }
    const requestId = opts.requestId ?? this.randomBytes(16);
    assert(
      requestId.byteLength > 0 && requestId.byteLength <= requestIdBytesMax,
      () => `request id of ${requestId.byteLength} bytes (1..${requestIdBytesMax})`,
    );
    const entry = encodeRequest(requestId, data);
    const max = this.node.raft.cfg.maxEntryBytes;
    if (entry.byteLength > max) {
      return Promise.reject(new RaftError('PROPOSAL_TOO_LARGE', `proposal of ${entry.byteLength} bytes > ${max}`));
    }
    const key = requestKey(requestId);
    return new Promise((resolve, reject) => {
      this.proposals.add(key, this.timers.nowMs() + this.limits.proposalTimeoutMs, { resolve, reject });
      this.proposalQueue.push({ key, entry });
      this.wake();
    });
  }

  /**
   * Linearizable read barrier (ReadIndex, Raft thesis §6.4): resolves once
   * this node's state machine reflects every write committed before the call.
   */
  read(): Promise<void> {
    const refused = this.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    if (this.reads.size() >= this.limits.readsPendingMax) {
      return Promise.reject(new RaftError('READS_FULL', `${this.reads.size()} reads pending`));
    }
    return new Promise((resolve, reject) => {
      this.reads.enqueue(this.timers.nowMs() + this.limits.readTimeoutMs, { resolve, reject });
      this.wake();
    });
  }

  /** Add `id` as a learner: it receives the log but does not vote (thesis §4.2.1). Leader only. */
  addLearner(id: NodeId): Promise<ConfState> {
    return this.proposeConfChange({ type: 'addLearner', node: id });
  }

  /** Promote a learner to voter; the core refuses (LEARNER_NOT_CAUGHT_UP) until it holds the log. Leader only. */
  promote(id: NodeId): Promise<ConfState> {
    return this.proposeConfChange({ type: 'addNode', node: id });
  }

  /** Remove a member; removing the leader itself hands leadership over (TimeoutNow). Leader only. */
  removeMember(id: NodeId): Promise<ConfState> {
    return this.proposeConfChange({ type: 'removeNode', node: id });
  }

  /**
   * One membership change (thesis §4.1: one at a time). Resolves with the new
   * membership once its entry is applied and persisted here. Fails with
   * NOT_LEADER (leaderHint set when known; a follower would forward it and lose
   * the core's refusal), CONF_CHANGE_PENDING, CONF_CHANGE_INVALID,
   * LEARNER_NOT_CAUGHT_UP, PROPOSAL_DROPPED (a transfer is in progress, or a new
   * leader replaced the entry), TIMEOUT (outcome unknown), STOPPED.
   */
  proposeConfChange(cc: ConfChange): Promise<ConfState> {
    const refused = this.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    const notLeader = this.notLeader();
    if (notLeader !== undefined) return Promise.reject(notLeader);
    return new Promise((resolve, reject) => {
      this.confQueue.push({ cc, deadlineMs: this.timers.nowMs() + this.limits.proposalTimeoutMs, resolve, reject });
      this.wake();
    });
  }

  private notLeader(): RaftError | undefined {
    const r = this.node.raft;
    if (r.role === 'leader') return undefined;
    const hint = r.lead === noNode ? {} : { leaderHint: r.lead };
    return new RaftError('NOT_LEADER', `membership changes go to the leader; ${this.id} is ${r.role}`, hint);
  }

  /** Ask the leader to hand over to `to` (thesis §3.10); watch leaderChanged for the outcome. */
  transferLeadership(to: NodeId): void {
    if (this.state !== 'running') return;
    this.transferTo = to;
    this.wake();
  }

  status(): DriverStatus {
    return {
      raft: this.node.status(),
      state: this.state,
      applied: this.applied,
      snapshotIndex: this.snapshotIndex,
      restoring: this.restoring,
      proposalsPending: this.proposals.size(),
      readsPending: this.reads.size(),
      inboxMessages: this.inbox.length,
      ...this.counters,
    };
  }

  private refusal(): RaftError | undefined {
    if (this.state === 'running') return undefined;
    return this.fatal ?? new RaftError('STOPPED', `raft node ${this.id} is ${this.state}`);
  }

  // ---- inputs (queued; drained at the start of a cycle) ----

  private receive(m: Message): void {
    if (this.state !== 'running' || m.to !== this.id) return;
    if (this.inbox.length >= this.limits.inboxMessagesMax) {
      // Votes are kept (losing one delays an election, and they are few); appends and heartbeats are resent.
      const i = this.inbox.findIndex((x) => !isVoteMessage(x.type));
      this.inbox.splice(i >= 0 ? i : 0, 1);
      this.counters.inboxDropped++;
    }
    this.inbox.push(m);
    this.wake();
  }

  private onTick(): void {
    if (this.ticksPending < this.limits.ticksPendingMax) this.ticksPending++;
    else this.counters.ticksDropped++;
    const now = this.timers.nowMs();
    const timeout = (what: string) => () => new RaftError('TIMEOUT', `${what} not applied in time on ${this.id}`);
    this.proposals.expire(now, timeout('proposal'));
    this.reads.expire(now, timeout('read'));
    this.confWaiters.expire(now, timeout('membership change'));
    this.wake();
  }

  private wake(): void {
    const w = this.wakeUp;
    if (w === undefined) return;
    this.wakeUp = undefined;
    w();
  }

  /** Hand every queued input to the core. Messages first, so a leader's word counts before our ticks. */
  private drainInputs(): void {
    const inbox = this.inbox;
    this.inbox = [];
    for (const m of inbox) this.stepInbound(m);
    for (const peer of this.unreachable) this.node.reportUnreachable(peer);
    this.unreachable.clear();
    for (const to of this.snapsSent) this.node.reportSnapshot(to, true);
    this.snapsSent = [];
    for (; this.ticksPending > 0; this.ticksPending--) this.node.tick();
    if (this.transferTo !== undefined) this.node.transferLeadership(this.transferTo);
    this.transferTo = undefined;
    this.proposeQueued();
    this.proposeConfQueued();
    this.requestReads();
  }

  /** Membership changes, each through the core's guards; the first refusal of each is its caller's answer. */
  private proposeConfQueued(): void {
    const queue = this.confQueue;
    this.confQueue = [];
    for (const p of queue) {
      const notLeader = this.notLeader();
      if (notLeader !== undefined) {
        p.reject(notLeader);
        continue;
      }
      try {
        this.node.proposeConfChange(p.cc);
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
        p.reject(e);
        continue;
      }
      const r = this.node.raft;
      this.confWaiters.add(r.log.lastIndex(), r.term, p.deadlineMs, p);
    }
  }

  private stepInbound(m: Message): void {
    try {
      this.node.step(m);
    } catch (e) {
      // A peer's message is never a reason to stop; assertion failures (our bugs) still are.
      if (!(e instanceof RaftError)) throw e;
      this.log.warn({ subsystem: 'raft', event: 'stepRefused', nodeId: this.id, type: m.type, from: m.from, code: e.code }, e.message);
    }
  }

  /** Everything proposed since the last cycle in one proposeEntries: one append, one fsync. */
  private proposeQueued(): void {
    if (this.proposalQueue.length === 0) return;
    const batch = this.proposalQueue;
    this.proposalQueue = [];
    try {
      this.node.proposeEntries(batch.map((p) => p.entry));
      this.counters.proposalBatches++;
      this.counters.proposed += batch.length;
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
      for (const p of batch) this.proposals.reject(p.key, e);
    }
  }

  private requestReads(): void {
    if (this.reissueReads) {
      this.reissueReads = false;
      // The old leader may have dropped them; the new one answers for itself (same context).
      for (const b of this.reads.unanswered()) this.callReadIndex(b, false);
    }
    if (this.reads.queuedCount() === 0) return;
    const context = this.randomBytes(16);
    this.callReadIndex(this.reads.takeBatch(requestKey(context), context)!, true);
  }

  private callReadIndex(b: ReadBatch, failOnRefusal: boolean): void {
    try {
      this.node.readIndex(b.context);
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
      if (failOnRefusal) this.reads.fail(b.key, e);
    }
  }

  // ---- the loop ----

  private async run(): Promise<void> {
    let streak = 0;
    try {
      if (this.startRestore !== undefined && !(await this.awaitRestore(this.startRestore))) return;
      this.startRestore = undefined;
      while (this.state === 'running') {
        if (await this.cycle()) {
          if (++streak < this.limits.cyclesPerYieldMax) continue;
          streak = 0;
          await new Promise<void>((r) => this.timers.setImmediate(r));
        } else if (this.state === 'running') {
          streak = 0;
          await new Promise<void>((r) => {
            this.wakeUp = r;
          });
        }
      }
    } catch (e) {
      this.fail(e);
    }
  }

  /** One turn of the Ready contract (raw-node.ts). Returns whether there was a Ready. */
  private async cycle(): Promise<boolean> {
    this.drainInputs();
    if (!this.node.hasReady()) return false;
    const rd = this.node.ready();
    this.counters.cycles++;
    if (rd.softState !== undefined) this.noteSoftState(rd.softState);
    const early = this.leaderSendsBeforePersist && this.mayPrecedePersist(rd);
    if (early) this.send(rd.messages);
    await this.persist(rd);
    if (this.state !== 'running') return false; // stopped while the disk worked: send and apply nothing
    // A snapshot is acknowledged only once the state machine holds it: the leader must not count
    // (nor promote) a member that is still fetching its image. Delaying a message is always safe.
    if (rd.snapshot !== undefined && !(await this.installSnapshot(rd.snapshot))) return false;
    if (!early) this.send(rd.messages);
    if (!(await this.applyEntries(rd.committedEntries))) return false;
    this.confWaiters.droppedUpTo(this.applied, () => new RaftError('PROPOSAL_DROPPED', 'a new leader replaced the membership change'));
    this.node.advance(rd);
    for (const rs of rd.readStates) this.reads.confirmed(requestKey(rs.context), rs.index);
    this.reads.release(this.applied);
    if (rd.committedEntries.length > 0 || rd.snapshot !== undefined) this.emit('applied', this.applied);
    await this.maybeSnapshot();
    return true;
  }

  private noteSoftState(soft: SoftState): void {
    if (soft.lead === this.lead) return;
    this.lead = soft.lead;
    if (soft.lead !== noNode) this.reissueReads = true;
    this.emit('leaderChanged', this.node.raft.term, soft.lead);
  }

  /**
   * See leaderSendsBeforePersist: only appends and heartbeats, no new term or
   * vote, and only when there are new entries to fsync (the overlap is the
   * point). A Ready without them is saved quickly; sending after it lets the
   * transport coalesce these messages with the next cycle's appends.
   */
  private mayPrecedePersist(rd: Ready): boolean {
    if (rd.snapshot !== undefined || rd.messages.length === 0 || rd.entries.length === 0) return false;
    const hs = rd.hardState;
    if (hs !== undefined && (hs.term !== this.persistedTerm || hs.vote !== this.persistedVote)) return false;
    return rd.messages.every((m) => m.type === 'app' || m.type === 'heartbeat');
  }

  private async persist(rd: Ready): Promise<void> {
    if (rd.hardState === undefined && rd.entries.length === 0 && rd.snapshot === undefined) return;
    try {
      await this.storage.save({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot }, rd.mustSync);
    } catch (e) {
      throw new RaftError('STORAGE', `raft node ${this.id}: persisting a Ready failed`, { cause: e });
    }
    if (rd.hardState !== undefined) {
      this.persistedTerm = rd.hardState.term;
      this.persistedVote = rd.hardState.vote;
    }
  }

  private send(msgs: readonly Message[]): void {
    if (msgs.length === 0) return;
    this.transport.send(msgs);
    // The transport owns the snapshot bytes now; the follower's answer tells the leader the rest.
    for (const m of msgs) if (m.type === 'snap') this.snapsSent.push(m.to);
  }

  /** Returns false when the driver stopped while the state machine restored. */
  private async installSnapshot(s: Snapshot): Promise<boolean> {
    const r = this.sm.restore(s.data, this.restoreAbort.signal);
    if (r !== undefined && !(await this.awaitRestore(r))) return false;
    this.applied = s.meta.index;
    this.snapshotIndex = s.meta.index;
    return true;
  }

  /**
   * Wait for an asynchronous restore. The loop does nothing meanwhile (inputs
   * queue, bounded), so nothing is applied or advanced past the snapshot. Ticks
   * that piled up are dropped: time spent restoring is not election time.
   */
  private async awaitRestore(r: Promise<void>): Promise<boolean> {
    this.restoring = true;
    // stop() does not wait for a state machine that ignores the signal; its late outcome is dropped.
    const signal = this.restoreAbort.signal;
    r.catch(() => undefined);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      await Promise.race([r, aborted]);
    } catch (e) {
      if (this.state !== 'running') return false; // aborted by stop()
      throw new RaftError('STOPPED', `raft node ${this.id}: restoring the state machine failed`, { cause: e });
    } finally {
      signal.removeEventListener('abort', onAbort!);
      this.restoring = false;
    }
    this.ticksPending = 0;
    return this.state === 'running';
  }

  /** Apply in log order. Returns false when the driver stopped meanwhile. */
  private async applyEntries(ents: readonly Entry[]): Promise<boolean> {
    let run: AppliedCommand[] = [];
    for (const e of ents) {
      if (e.kind === 'conf') {
        await this.applyRun(run);
        run = [];
        await this.applyConfEntry(e);
        if (this.state !== 'running') return false;
        this.applied = e.index;
      } else if (e.data.byteLength > 0) {
        const { requestId, data } = decodeRequest(e.data);
        run.push({ index: e.index, term: e.term, requestId, data });
      } else if (run.length === 0) {
        this.applied = e.index; // a new leader's no-op (Raft §8)
      }
    }
    await this.applyRun(run);
    if (ents.length > 0) this.applied = index(Math.max(this.applied, ents[ents.length - 1]!.index));
    return this.state === 'running';
  }

  /** Apply consecutive application commands, in one batch when the state machine supports it. */
  private async applyRun(run: readonly AppliedCommand[]): Promise<void> {
    if (run.length === 0) return;
    const results = this.sm.applyBatch ? await this.sm.applyBatch(run) : run.map((c) => this.sm.apply(c));
    assert(results.length === run.length, () => `applyBatch returned ${results.length} results for ${run.length} commands`);
    for (const [i, cmd] of run.entries()) {
      this.proposals.resolve(requestKey(cmd.requestId), results[i]);
      this.applied = cmd.index;
    }
  }

  private async applyConfEntry(e: Entry): Promise<void> {
    const conf = this.node.applyConfChange(decodeConfChange(e.data));
    try {
      await this.storage.saveConfState(conf);
    } catch (err) {
      throw new RaftError('STORAGE', `raft node ${this.id}: persisting the membership failed`, { cause: err });
    }
    this.confWaiters.applied(e.index, e.term, conf);
    this.emit('confChanged', conf);
  }

  private async maybeSnapshot(): Promise<void> {
    if (this.snapshotEntries === 0 || this.applied - this.snapshotIndex < this.snapshotEntries) return;
    const at = this.applied;
    const data = await this.sm.snapshot();
    try {
      await this.storage.snapshotAndCompact(at, this.node.raft.confState(), data, this.snapshotKeepEntries);
    } catch (e) {
      throw new RaftError('STORAGE', `raft node ${this.id}: snapshot at ${at} failed`, { cause: e });
    }
    this.snapshotIndex = at;
  }

  private emit<K extends keyof DriverEvents & string>(event: K, ...args: DriverEvents[K]): void {
    try {
      this.events.emit(event, ...args);
    } catch (e) {
      this.log.warn({ subsystem: 'raft', event: 'listenerThrew', nodeId: this.id, name: event, err: String(e) }, 'an event listener threw');
    }
  }
}
