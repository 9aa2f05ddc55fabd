// The store as front ends see it: commands proposed through Raft, queries over the applied state, and
// (in a cluster) membership, read barriers and readiness. Front ends depend on this; it knows nothing of
// their protocols, and nothing of sockets: the Raft transport and PeerRpc are handed in.

import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { PeerRpc } from '../cluster/peer.ts';
import {
  type ConfState,
  type DriverLimits,
  type DriverStatus,
  type LogIndex,
  MemoryNetwork,
  type NodeId,
  RaftDriver,
  RaftError,
  RawNode,
  type Role,
  type Transport,
  index,
  isRaftError,
  noNode,
  nodeId,
  seededRandom,
} from '../raft/index.ts';
import { LevelDBStorage } from '../raft/leveldb-storage.ts';
import type { Command } from './commands.ts';
import { encodeCommand } from './commands.ts';
import { type ApplyResult, StoreError } from './errors.ts';
import { StoreMachine } from './machine.ts';
import { Membership } from './membership.ts';
import { StoreQueries } from './queries.ts';
import { replicationLimits } from './replication-limits.ts';
import { causes, retryUntil } from './retry.ts';
import type { TransferLogger } from './state-transfer.ts';
import type { FolderChange } from './types.ts';

/** A member of a multi-node store. */
export interface StoreClusterOptions {
  /** Raft messages to and from the other members; owned by the store from open() on (close() closes it). */
  transport: Transport;
  /** Requests between members: forwarded membership changes, state transfer, status. Not closed by the store. */
  peers: PeerRpc;
  /** The founding voters (this node among them), used only when the data folder is new. */
  voters: string[];
  /** Start empty and wait to be added (as a learner) by a member: `store.addMember(nodeId)` on any node. */
  join?: boolean;
}

export interface StoreLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
  info?(fields: Record<string, unknown>, msg: string): void;
}

export interface StoreOptions {
  /** Data folder: `raft/` (the log) and `store/` (the applied state) are created inside. */
  dir: string;
  nodeId: string;
  /** Raft tick in ms. Default 50. */
  tickMs?: number;
  /** Ticks without a leader before an election (randomized up to twice). Default 10. */
  electionTicks?: number;
  limits?: Partial<DriverLimits>;
  /** Snapshot (and compact the log) after this many applied entries. Default 10,000. */
  snapshotEntries?: number;
  /** Entries kept behind a snapshot for followers slightly behind. Default 5,000. */
  snapshotKeepEntries?: number;
  /** Without it: a single-node store (one voter, elected at once). */
  cluster?: StoreClusterOptions;
  logger?: StoreLogger;
}

/** One member as this node knows it. Match is the leader's view; the others' applied index needs clusterStatus(). */
export interface MemberStatus {
  readonly id: string;
  readonly voter: boolean;
  /** Leader only: the highest log index known to be replicated on that member. */
  readonly match: number | undefined;
}

/** This node's view (sync). Extends the driver's status, which the admin health check reads. */
export interface StoreStatus extends DriverStatus {
  readonly nodeId: string;
  readonly leader: string;
  readonly term: number;
  readonly role: Role;
  readonly commit: number;
  readonly members: readonly MemberStatus[];
  readonly ready: boolean;
}

/** What one member says of itself (clusterStatus), or that it could not be asked. */
export type NodeReport =
  | { readonly id: string; readonly reachable: true; readonly role: Role; readonly leader: string; readonly term: number; readonly commit: number; readonly applied: number; readonly ready: boolean; readonly restoring: boolean }
  | { readonly id: string; readonly reachable: false; readonly error: string };

export const statusService = 'store.status';

interface InFlight {
  readonly data: Uint8Array;
  readonly requestId: Uint8Array;
  sinceMs: number;
}

const stderrLogger: StoreLogger = {
  warn: (fields, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', ...fields, msg })}\n`),
  error: (fields, msg) => process.stderr.write(`${JSON.stringify({ level: 'error', ...fields, msg })}\n`),
};

/** Passing refusals: the same request id is proposed again (the store applies it once). */
const retryableProposal = (e: unknown): boolean =>
  isRaftError(e) && (e.code === 'NOT_LEADER' || e.code === 'PROPOSAL_DROPPED' || e.code === 'TIMEOUT' || e.code === 'UNCOMMITTED_FULL');

const retryableRead = (e: unknown): boolean =>
  isRaftError(e) && (e.code === 'NOT_LEADER' || e.code === 'PROPOSAL_DROPPED' || e.code === 'TIMEOUT' || e.code === 'READS_FULL');

/** A command without its time: the store stamps `at` when it proposes (once, so replicas agree). */
export type CommandInput = Command extends infer C ? (C extends Command ? Omit<C, 'at'> : never) : never;

export class Store {
  readonly queries: StoreQueries;
  readonly nodeId: string;
  private readonly driver: RaftDriver;
  private readonly machine: StoreMachine;
  private readonly membership: Membership;
  private readonly clustered: boolean;
  private readonly peers: PeerRpc | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  /** execute() proposals waiting for their outcome (bounded by the driver's proposalsPendingMax). */
  private readonly inFlight = new Set<InFlight>();
  private lastProbeOkMs = -Infinity;
  private probing = false;

  private constructor(driver: RaftDriver, machine: StoreMachine, o: StoreOptions, log: StoreLogger) {
    this.driver = driver;
    this.machine = machine;
    this.nodeId = o.nodeId;
    this.queries = new StoreQueries(machine.db);
    this.clustered = o.cluster !== undefined;
    this.peers = o.cluster?.peers;
    this.membership = new Membership(driver, this.peers, log);
    this.peers?.serve(statusService, async () => this.selfReport());
    this.timers.push(setInterval(() => this.probeReadiness(), replicationLimits.readyProbeIntervalMs).unref());
    this.timers.push(setInterval(() => this.reproposeStalled(), replicationLimits.proposalAttemptMs / 2).unref());
    driver.events.on('leaderChanged', (_term, lead) => {
      if (lead !== noNode) for (const p of this.inFlight) this.repropose(p);
    });
    if (this.clustered) this.timers.push(setInterval(() => this.membership.promoteCaughtUp(), replicationLimits.promoteIntervalMs).unref());
  }

  /**
   * Open (or create) a store. Without `cluster`: a one-member Raft group that elects itself at
   * once. With it: a member of a group founded by `cluster.voters`, or (join) an empty node that
   * waits for a member to add it; it catches up from the leader's log or, when that was compacted,
   * from an image of a peer's database (state transfer).
   */
  static async open(o: StoreOptions): Promise<Store> {
    const id = nodeId(o.nodeId);
    const c = o.cluster;
    const log = o.logger ?? stderrLogger;
    await mkdir(join(o.dir, 'raft'), { recursive: true });
    const founding = c !== undefined && !c.join && c.voters.includes(o.nodeId);
    const bootstrap = c === undefined ? { voters: [id], learners: [] } : founding ? { voters: c.voters.map(nodeId), learners: [] } : undefined;
    const storage = await LevelDBStorage.open(join(o.dir, 'raft'), bootstrap ? { bootstrap } : {});
    if (c && !c.join && !founding && storage.initialState().hardState.term === 0) {
      await storage.close();
      throw new StoreError('INVALID', `store: ${o.nodeId} is new and not among the founding voters ${c.voters.join(',')}: open it with join`);
    }
    let conf: () => ConfState = () => storage.initialState().confState;
    let machine: StoreMachine;
    try {
      const members = (): NodeId[] => [...conf().voters, ...conf().learners];
      machine = await StoreMachine.open(join(o.dir, 'store'), { nodeId: o.nodeId, ...(c ? { transfer: { peers: c.peers, members, log } } : {}) });
    } catch (e) {
      await storage.close();
      throw e;
    }
    // A state machine past the Raft commit index holds an image fetched ahead of this node's log:
    // start at the commit (never beyond, the core forbids it); the machine skips what it holds.
    const commit = storage.initialState().hardState.commit;
    const applied = index(Math.max(storage.snapshot().meta.index, Math.min(machine.appliedIndex(), commit)));
    const node = new RawNode({ id, storage, applied, random: seededRandom(randomBytes(4).readUInt32BE(0)), ...(o.electionTicks ? { electionTicks: o.electionTicks } : {}) });
    if (c === undefined) node.campaign(); // a single voter wins at once: no election timeout at start
    const driver = new RaftDriver({
      node,
      storage,
      transport: c?.transport ?? new MemoryNetwork({ schedule: (fn) => setImmediate(fn) }).endpoint(id),
      stateMachine: machine,
      tickMs: o.tickMs ?? 50,
      ...(o.limits ? { limits: o.limits } : {}),
      snapshotEntries: o.snapshotEntries ?? 10_000,
      ...(o.snapshotKeepEntries !== undefined ? { snapshotKeepEntries: o.snapshotKeepEntries } : {}),
      logger: log,
    });
    conf = () => driver.status().raft.conf;
    driver.start();
    return new Store(driver, machine, o, log);
  }

  /**
   * Propose a command and wait until it is committed and applied here. Resolves with the
   * command's result; a refusal (exists, not found, over quota...) throws StoreError with its code.
   * On a follower the command reaches the leader through Raft. NOT_LEADER, PROPOSAL_DROPPED and
   * TIMEOUT are retried with the same request id (applied once) until executeDeadlineMs, then
   * UNAVAILABLE; a failed disk is STORAGE.
   */
  async execute<T>(cmd: CommandInput, opts: { at?: number; requestId?: Uint8Array } = {}): Promise<T> {
    const full = { ...cmd, at: opts.at ?? Date.now() } as Command;
    const data = encodeCommand(full);
    const requestId = opts.requestId ?? randomBytes(16);
    const deadlineMs = performance.now() + replicationLimits.executeDeadlineMs;
    const policy = { deadlineMs, delayMsMin: replicationLimits.retryDelayMsMin, delayMsMax: replicationLimits.retryDelayMsMax, retryable: retryableProposal };
    let res: ApplyResult<T>;
    try {
      res = (await retryUntil(policy, () => this.proposeOnce(data, requestId, deadlineMs))) as ApplyResult<T>;
    } catch (e) {
      throw translate(e, `store: ${cmd.type} not committed`);
    }
    if (!res.ok) throw new StoreError(res.code, res.message);
    return res.value;
  }

  /**
   * One proposal attempt. While it waits it is proposed again (same request id) when the leader
   * changes or every proposalAttemptMs (reproposeStalled): a proposal forwarded to a leader that
   * died is not waited for until the driver's timeout. Every copy joins the first one's waiter in
   * the driver, and the state machine applies the request id once.
   */
  private async proposeOnce(data: Uint8Array, requestId: Uint8Array, deadlineMs: number): Promise<unknown> {
    const p: InFlight = { data, requestId, sinceMs: performance.now() };
    this.inFlight.add(p);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RaftError('TIMEOUT', 'no outcome before the execute deadline')), Math.max(0, deadlineMs - performance.now()));
    });
    try {
      return await Promise.race([this.driver.propose(data, { requestId }), deadline]);
    } finally {
      clearTimeout(timer);
      this.inFlight.delete(p);
    }
  }

  private repropose(p: InFlight): void {
    p.sinceMs = performance.now();
    this.driver.propose(p.data, { requestId: p.requestId }).catch(() => undefined);
  }

  private reproposeStalled(): void {
    const now = performance.now();
    for (const p of this.inFlight) if (now - p.sinceMs >= replicationLimits.proposalAttemptMs) this.repropose(p);
  }

  /**
   * Linearizable read barrier (ReadIndex, Raft thesis §6.4) from any member: after it, queries
   * here see every write committed anywhere before the call. Retried like execute(), then UNAVAILABLE.
   */
  async readBarrier(): Promise<void> {
    const policy = {
      deadlineMs: performance.now() + replicationLimits.readDeadlineMs,
      delayMsMin: replicationLimits.retryDelayMsMin,
      delayMsMax: replicationLimits.retryDelayMsMax,
      retryable: retryableRead,
    };
    try {
      await retryUntil(policy, () => this.driver.read());
    } catch (e) {
      throw translate(e, 'store: read barrier not confirmed');
    }
  }

  /** Former name of readBarrier(). */
  barrier(): Promise<void> {
    return this.readBarrier();
  }

  /** Add `nodeId` as a learner (it catches up, then the leader promotes it while voters < votersMax). Idempotent. */
  async addMember(id: string): Promise<ConfState> {
    return this.membership.change('add', nodeId(id));
  }

  /** Remove a member (the leader itself hands over first). Idempotent. */
  async removeMember(id: string): Promise<ConfState> {
    return this.membership.change('remove', nodeId(id));
  }

  /** The membership as this node has applied it. */
  members(): ConfState {
    return this.membership.members();
  }

  /**
   * Ready to serve: a leader is known, no snapshot is being installed, the applied index is within
   * readyLagEntriesMax of the commit index, and a ReadIndex probe (which waits until this node has
   * applied what the leader committed) succeeded within readyProbeFreshMs.
   */
  ready(): boolean {
    const st = this.driver.status();
    if (st.state !== 'running' || st.raft.lead === noNode || st.restoring || this.machine.isRestoring()) return false;
    if (st.raft.commit - st.applied > replicationLimits.readyLagEntriesMax) return false;
    // Alone, this node is its own quorum: leading is enough. In a cluster a recent ReadIndex proves a
    // majority still answers (a leader cut off keeps its role until check-quorum steps it down).
    if (!this.clustered) return true;
    return performance.now() - this.lastProbeOkMs <= replicationLimits.readyProbeFreshMs;
  }

  private probeReadiness(): void {
    if (this.probing || this.driver.status().state !== 'running') return;
    this.probing = true;
    this.driver.read().then(
      () => {
        this.lastProbeOkMs = performance.now();
      },
      () => undefined,
    ).finally(() => {
      this.probing = false;
    });
  }

  status(): StoreStatus {
    const d = this.driver.status();
    const r = d.raft;
    const member = (id: NodeId, voter: boolean): MemberStatus => ({ id, voter, match: r.progress.get(id)?.match });
    return {
      ...d,
      nodeId: this.nodeId,
      leader: r.lead,
      term: r.term,
      role: r.role,
      commit: r.commit,
      members: [...r.conf.voters.map((id) => member(id, true)), ...r.conf.learners.map((id) => member(id, false))],
      ready: this.ready(),
    };
  }

  /** Every member's own report (commit and applied index, readiness), asked over PeerRpc; for `stormo status`. */
  async clusterStatus(): Promise<NodeReport[]> {
    const conf = this.members();
    const ids = [...conf.voters, ...conf.learners];
    if (!ids.includes(nodeId(this.nodeId))) ids.push(nodeId(this.nodeId));
    return Promise.all(
      ids.map(async (id): Promise<NodeReport> => {
        if (id === this.nodeId) return this.selfReport();
        if (this.peers === undefined) return { id, reachable: false, error: 'no peers configured' };
        try {
          return (await this.peers.request(id, statusService, {}, { timeoutMs: replicationLimits.peerRequestTimeoutMs })) as NodeReport;
        } catch (e) {
          return { id, reachable: false, error: (e as Error).message };
        }
      }),
    );
  }

  private selfReport(): NodeReport {
    const d = this.driver.status();
    const r = d.raft;
    const restoring = d.restoring || this.machine.isRestoring();
    return { id: this.nodeId, reachable: true, role: r.role, leader: r.lead, term: r.term, commit: r.commit, applied: d.applied as LogIndex, ready: this.ready(), restoring };
  }

  /** Digest of every key and value applied here, with the applied index: members at one index agree byte for byte. */
  stateDigest(): Promise<{ appliedIndex: number; records: number; bytes: number; sha256: string }> {
    return this.machine.digest();
  }

  /** Ask the leader (this node) to hand over to `to`; for drains and rolling upgrades. */
  transferLeadership(to: string): void {
    this.driver.transferLeadership(nodeId(to));
  }

  /**
   * The store stopped for good (a disk write failed: continuing could diverge from the log).
   * The process should exit and be restarted by its supervisor, as etcd does; it recovers from the log.
   */
  onFatal(listener: (error: Error) => void): void {
    this.driver.events.on('stopped', (e) => {
      if (e !== undefined) listener(e);
    });
  }

  /** Folder changes as they are applied on this node (IMAP IDLE, unsolicited responses). */
  onChanges(listener: (changes: readonly FolderChange[]) => void): () => void {
    this.machine.events.on('changes', listener);
    return () => this.machine.events.off('changes', listener);
  }

  /** The whole state was replaced by a peer's image (no per-folder changes for that jump: resynchronize). */
  onRestored(listener: (appliedIndex: number) => void): () => void {
    this.machine.events.on('restored', listener);
    return () => this.machine.events.off('restored', listener);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    await this.driver.stop();
    await this.machine.close();
  }
}

/** Raft failures become StoreError: a failed disk is STORAGE (452 4.3.1, HTTP 507), anything else a passing UNAVAILABLE. */
function translate(e: unknown, message: string): StoreError {
  if (e instanceof StoreError) return e;
  const disk = causes(e).some((c) => (c instanceof StoreError && c.code === 'STORAGE') || (c instanceof RaftError && c.code === 'STORAGE'));
  return new StoreError(disk ? 'STORAGE' : 'UNAVAILABLE', message, { cause: e });
}
