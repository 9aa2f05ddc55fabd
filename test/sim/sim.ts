// Seeded deterministic simulation of a Raft group: real core, simulated disk, network, clients and faults.
// One PRNG drives everything (no Date, no Math.random, no timers), so a seed replays bit for bit.

import { AssertionFailure } from '../../src/raft/assert.ts';
import {
  type ConfState,
  type Entry,
  type Message,
  MemoryStorage,
  Raft,
  type RaftConfig,
  RaftError,
  RawNode,
  type Ready,
  type NodeId,
  decodeConfChange,
  nodeId,
  seededRandom,
} from '../../src/raft/index.ts';
import { type KvCommand, KvStateMachine, decodeCommand, encodeCommand } from './kv.ts';
import { type KvInput, type KvOutput, type Operation, checkLinearizable } from './linearizability.ts';

/** Faulty behaviours planted to prove the checkers can fail. */
export type PlantedBug = 'none' | 'ackBeforeFsync' | 'commitPrevTerm' | 'doubleVote' | 'voteStaleLog' | 'readNoQuorum';

export interface SimOptions {
  seed: number;
  /** Virtual milliseconds of faults, then a heal phase. */
  durationMs?: number;
  healMs?: number;
  bug?: PlantedBug;
  /** Scale of the nemesis' activity (1 = default). */
  chaos?: number;
  /**
   * Check each newly applied entry against every electable log (checkCommitDurable; default
   * true). Off, a commit bug shows only once a leader actually overwrites a committed entry.
   */
  durabilityCheck?: boolean;
  /** Raft core subclass factory (planted core bugs). */
  makeRaft?: (cfg: RaftConfig) => Raft;
  log?: (line: string) => void;
}

export interface SimResult {
  seed: number;
  violations: string[];
  stats: {
    ops: number;
    acked: number;
    commits: number;
    elections: number;
    crashes: number;
    partitions: number;
    confChanges: number;
    transfers: number;
    snapshotsSent: number;
    healToCommitMs: number;
    events: number;
  };
}

const tickMs = 10;
const electionTicks = 10;
const clientAttemptTimeoutMs = 400;
const clientAttemptsMax = 3;
const keys = ['a', 'b', 'c', 'd'];
const snapshotEveryEntries = 40;
const keepEntriesAfterSnapshot = 8;
const inboxMax = 2048;
const healCommitBoundMs = 3000;
const votersMin = 3;
const membersMax = 6;

/**
 * What a seed's run looks like beyond the common nemesis, drawn from the seed itself (so a seed
 * replays exactly). Different grounds find different bugs; one fixed mix explores few of them.
 */
interface Profile {
  /** Faults aimed at leaders: a new leader is often cut off with a minority, at times before its first append leaves. */
  leaderHunt: boolean;
  /** AppendEntries payload limit: 1 sends one entry per message, so catching a follower up takes many round trips. */
  appendBytes: number;
  /** Pipelining window per follower: 1 is stop-and-wait. */
  inflightMsgs: number;
  /** Concurrent clients: more of them leave longer uncommitted tails behind a leader that is cut off. */
  clients: number;
}

// ---------- event queue ----------

interface SimEvent {
  at: number;
  seq: number;
  run: () => void;
}

class EventQueue {
  private heap: SimEvent[] = [];
  private seq = 0;

  push(at: number, run: () => void): void {
    const e = { at, seq: this.seq++, run };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  pop(): SimEvent | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

// ---------- a simulated node: the production Ready loop over a simulated disk ----------

type Reply = (out: KvOutput | { error: string }) => void;

class SimNode {
  readonly id: NodeId;
  /** The disk: written only when a simulated fsync completes, so a crash loses unsynced writes. */
  readonly disk: MemoryStorage;
  node: RawNode | undefined;
  kv = new KvStateMachine();
  busy = false;
  paused = false;
  epoch = 0;
  inbox: Message[] = [];
  /** Client writes waiting for their entry to be applied here: `${client}:${seq}`. */
  writeWaiters = new Map<string, Reply>();
  /** Linearizable reads waiting for their ReadState, then for apply to reach it. */
  readWaiters = new Map<string, { key: string; reply: Reply; index: number }>();
  removed = false;

  constructor(id: NodeId, disk: MemoryStorage) {
    this.id = id;
    this.disk = disk;
  }

  get up(): boolean {
    return this.node !== undefined;
  }
}

interface ClientOp {
  op: Operation;
  seq: number;
  attempt: number;
  target: NodeId;
  done: boolean;
}

export class Simulation {
  private readonly opts: Required<Omit<SimOptions, 'makeRaft' | 'log'>> & Pick<SimOptions, 'makeRaft' | 'log'>;
  private readonly rnd: ReturnType<typeof seededRandom>;
  private readonly q = new EventQueue();
  private now = 0;
  private readonly nodes = new Map<NodeId, SimNode>();
  private nextNodeNum = 1;
  private readonly cutLinks = new Set<string>();
  private lossRate = 0;
  private dupRate = 0;
  private healing = false;
  /** Bumped by every change of partition, so a timed heal only undoes its own. */
  private partitionGen = 0;
  private profile: Profile = { leaderHunt: false, appendBytes: 256, inflightMsgs: 16, clients: 5 };

  private readonly violations: string[] = [];
  private readonly leaders = new Map<number, NodeId>();
  private readonly appliedAt = new Map<number, string>();
  /** The highest entry of the Ready being applied that no node had applied before. */
  private newlyCommitted: Entry | undefined;
  private readonly history: Operation[] = [];
  private nextOpId = 0;
  private nextClientId = 1;
  private lastLeaderGuess: NodeId | undefined;
  private readonly stats: SimResult['stats'] = {
    ops: 0,
    acked: 0,
    commits: 0,
    elections: 0,
    crashes: 0,
    partitions: 0,
    confChanges: 0,
    transfers: 0,
    snapshotsSent: 0,
    healToCommitMs: -1,
    events: 0,
  };

  constructor(opts: SimOptions) {
    this.opts = { durationMs: 8000, healMs: 4000, bug: 'none', chaos: 1, durabilityCheck: true, ...opts };
    this.rnd = seededRandom(opts.seed);
  }

  private log(line: string): void {
    this.opts.log?.(`[${String(this.now).padStart(6)}] ${line}`);
  }

  private violation(what: string): void {
    if (this.violations.length < 20) this.violations.push(`t=${this.now}ms ${what}`);
    this.log(`VIOLATION ${what}`);
  }

  // ---------- lifecycle ----------

  run(): SimResult {
    this.profile = {
      leaderHunt: this.rnd.float() < 0.5,
      // One entry, a few entries, or a whole backlog (as in production) per append.
      appendBytes: [1, 1, 256, 256, 64 * 1024][this.rnd.int(5)]!,
      inflightMsgs: [1, 4, 16][this.rnd.int(3)]!,
      clients: this.rnd.float() < 0.5 ? 5 : 10,
    };
    this.log(`profile ${JSON.stringify(this.profile)}`);
    // Three or five founding voters; membership changes move between.
    const voters = Array.from({ length: this.rnd.float() < 0.5 ? 3 : 5 }, () => this.newNodeId());
    for (const id of voters) this.createNode(id, { voters, learners: [] });
    for (const id of voters) this.startNode(id);
    for (let c = 0; c < this.profile.clients; c++) this.q.push(this.rnd.int(50), () => this.clientNext(this.nextClientId++));
    this.q.push(200, () => this.nemesis());
    this.q.push(this.opts.durationMs, () => this.heal());
    this.q.push(1000, () => this.checkpoint());
    const end = this.opts.durationMs + this.opts.healMs;
    for (let e = this.q.pop(); e !== undefined && e.at <= end; e = this.q.pop()) {
      this.now = e.at;
      this.stats.events++;
      try {
        e.run();
      } catch (err) {
        // The core asserts its own invariants (etcd panics likewise): a violation, and the run is over.
        if (!(err instanceof AssertionFailure)) throw err;
        this.violation(`assertion in the core: ${err.message}`);
        return { seed: this.opts.seed, violations: this.violations, stats: this.stats };
      }
    }
    this.finalChecks();
    return { seed: this.opts.seed, violations: this.violations, stats: this.stats };
  }

  private newNodeId(): NodeId {
    return nodeId(`n${this.nextNodeNum++}`);
  }

  private createNode(id: NodeId, conf: ConfState): SimNode {
    const n = new SimNode(id, conf.voters.length > 0 ? MemoryStorage.bootstrap(conf) : new MemoryStorage(conf));
    this.nodes.set(id, n);
    return n;
  }

  private raftConfig(n: SimNode): RaftConfig {
    return {
      id: n.id,
      storage: n.disk,
      random: seededRandom(this.rnd.int(2 ** 31)),
      applied: n.disk.snapshot().meta.index,
      electionTicks,
      heartbeatTicks: 1,
      maxSizePerMsgBytes: this.profile.appendBytes, // small: splits expose commit-rule bugs (Figure 8)
      maxInflightMsgs: this.profile.inflightMsgs,
      maxInflightBytes: 64 * 1024,
      maxUncommittedBytes: 256 * 1024,
      maxEntryBytes: 4096,
      learnerCatchUpEntriesMax: 16,
    };
  }

  /** Start (or restart after a crash) from what is on the node's disk. */
  private startNode(id: NodeId): void {
    const n = this.nodes.get(id)!;
    const cfg = this.raftConfig(n);
    const raft = this.opts.makeRaft ? this.opts.makeRaft(cfg) : new Raft(cfg);
    n.node = new RawNode(raft);
    n.kv = KvStateMachine.restore(n.disk.snapshot().data);
    n.kv.skipTo(n.disk.snapshot().meta.index);
    n.busy = false;
    n.paused = false;
    n.inbox = [];
    const epoch = n.epoch;
    const tick = (): void => {
      if (n.epoch !== epoch || !n.node) return;
      if (!n.paused) {
        n.node.tick();
        this.pump(n);
      }
      this.q.push(this.now + tickMs, tick);
    };
    this.q.push(this.now + 1 + this.rnd.int(tickMs), tick);
    this.pump(n);
  }

  private crash(n: SimNode): void {
    if (!n.up) return;
    this.log(`crash ${n.id}`);
    this.stats.crashes++;
    n.node = undefined;
    n.epoch++;
    n.busy = false;
    n.inbox = [];
    n.writeWaiters.clear();
    n.readWaiters.clear();
  }

  // ---------- the Ready loop ----------

  /** Step a network message, or queue it while the node is persisting (as the real driver does). */
  private receive(n: SimNode, m: Message): void {
    if (!n.node) return;
    if (n.busy || n.paused) {
      if (n.inbox.length >= inboxMax) n.inbox.shift();
      n.inbox.push(m);
      return;
    }
    n.node.step(m);
    this.pump(n);
  }

  private pump(n: SimNode): void {
    const node = n.node;
    if (!node || n.busy || n.paused || !node.hasReady()) return;
    const rd = node.ready();
    this.observe(n, rd);
    n.busy = true;
    if (this.opts.bug === 'ackBeforeFsync') this.sendAll(n, rd.messages);
    const epoch = n.epoch;
    // fsync takes 1-4 ms; a crash before then loses this write.
    this.q.push(this.now + 1 + this.rnd.int(4), () => {
      if (n.epoch !== epoch || n.node !== node) return;
      this.afterFsync(n, node, rd);
    });
  }

  private afterFsync(n: SimNode, node: RawNode, rd: Ready): void {
    if (rd.snapshot) {
      n.disk.applySnapshot(rd.snapshot);
      n.kv = KvStateMachine.restore(rd.snapshot.data);
      n.kv.skipTo(rd.snapshot.meta.index);
    }
    n.disk.append(rd.entries);
    if (rd.hardState) n.disk.setHardState(rd.hardState);
    if (this.opts.bug !== 'ackBeforeFsync') this.sendAll(n, rd.messages);
    this.newlyCommitted = undefined;
    for (const e of rd.committedEntries) this.apply(n, e);
    if (this.newlyCommitted && this.opts.durabilityCheck) this.checkCommitDurable(n, this.newlyCommitted);
    node.advance(rd);
    for (const m of rd.messages) if (m.type === 'snap') node.reportSnapshot(m.to, true);
    this.serveReads(n, rd);
    this.maybeCompact(n);
    n.busy = false;
    const inbox = n.inbox;
    n.inbox = [];
    for (const m of inbox) node.step(m);
    this.pump(n);
  }

  private observe(n: SimNode, rd: Ready): void {
    const raft = n.node!.raft;
    if (rd.softState?.role !== 'leader') return;
    this.stats.elections++;
    this.lastLeaderGuess = n.id;
    this.log(`leader ${n.id} term ${raft.term}`);
    const prev = this.leaders.get(raft.term);
    if (prev !== undefined && prev !== n.id) this.violation(`election safety: ${prev} and ${n.id} both leaders in term ${raft.term}`);
    this.leaders.set(raft.term, n.id);
    this.checkLeaderCompleteness(n);
    // Leaders that die right after winning leave conflicting uncommitted tails across
    // terms: the ground where commit-rule bugs (Figure 8) show.
    if (!this.healing && this.rnd.float() < 0.15 * this.opts.chaos) {
      this.q.push(this.now + 1 + this.rnd.int(15), () => this.nemesisCrash(n));
    }
    // Or cut off with a minority: half the time before its first append (the no-op) leaves, so
    // only its own disk holds an entry of its term, otherwise while it catches followers up. The
    // minority it keeps takes client writes the majority never sees. Chains of such leaders leave
    // conflicting uncommitted tails of several terms (Figure 8), and the next leader's catch-up,
    // split over many appends, is where a commit rule is tested.
    if (!this.healing && this.profile.leaderHunt && this.rnd.float() < 0.9 * this.opts.chaos) {
      const delay = this.rnd.float() < 0.5 ? 0 : 1 + this.rnd.int(30);
      this.q.push(this.now + delay, () => {
        if (n.node?.raft.role === 'leader' && !this.healing) this.nemesisIsolate(n);
      });
    }
  }

  /** Raft §5.4: a new leader holds every entry applied anywhere before it was elected. */
  private checkLeaderCompleteness(n: SimNode): void {
    const log = n.node!.raft.log;
    const first = log.firstIndex();
    for (const [i, fp] of this.appliedAt) {
      if (i < first) continue;
      const t = log.term(i as Parameters<typeof log.term>[0]);
      if (t === undefined || `${t}` !== fp.slice(0, fp.indexOf('|'))) {
        this.violation(`leader completeness: leader ${n.id} term ${n.node!.raft.term} lacks committed entry ${i} (${fp.slice(0, 40)}), has term ${t}`);
        return;
      }
    }
  }

  private apply(n: SimNode, e: Entry): void {
    const fp = `${e.term}|${e.kind}|${new TextDecoder().decode(e.data)}`;
    const seen = this.appliedAt.get(e.index);
    if (seen === undefined) {
      this.appliedAt.set(e.index, fp);
      this.stats.commits++;
      this.newlyCommitted = e;
    } else if (seen !== fp) {
      this.violation(`state machine safety: ${n.id} applied ${fp.slice(0, 60)} at ${e.index}, another node ${seen.slice(0, 60)}`);
    }
    if (e.index !== n.kv.appliedIndex + 1) this.violation(`${n.id} applied ${e.index} after ${n.kv.appliedIndex}`);
    if (e.kind === 'conf') {
      this.applyConf(n, e);
      n.kv.skipTo(e.index);
      return;
    }
    if (e.data.byteLength === 0) {
      n.kv.skipTo(e.index);
      return;
    }
    const cmd = decodeCommand(e.data);
    const out = n.kv.apply(e.index, cmd);
    const key = `${cmd.client}:${cmd.seq}`;
    const w = n.writeWaiters.get(key);
    if (w) {
      n.writeWaiters.delete(key);
      w(out);
    }
  }

  /**
   * Raft §5.4 checked on the disks, the moment an entry is first applied anywhere: no node that
   * lacks it may still be able to win an election, that is, find a quorum of its own
   * configuration whose persisted logs are no more up-to-date than its own (§5.4.1). Crashes
   * make any node's persisted log its whole log, and a later term frees every vote, so such a
   * quorum is a reachable future leader that would overwrite a committed entry. Checking the
   * highest new entry covers the ones below it (Log Matching). Nodes stopped for good
   * (removed) neither campaign nor vote.
   */
  private checkCommitDurable(by: SimNode, e: Entry): void {
    const last = new Map<SimNode, { index: number; term: number }>();
    for (const n of this.nodes.values()) {
      if (n.removed) continue;
      const li = n.disk.lastIndex();
      last.set(n, { index: li, term: n.disk.term(li) });
    }
    for (const [c, cl] of last) {
      if (e.index < c.disk.firstIndex() || (e.index <= cl.index && c.disk.term(e.index) === e.term)) continue; // holds it
      const voters = c.disk.initialState().confState.voters;
      if (!voters.includes(c.id)) continue; // cannot campaign
      const granting: NodeId[] = [];
      for (const v of voters) {
        const vn = this.nodes.get(v);
        const vl = vn && last.get(vn);
        if (vl && (cl.term > vl.term || (cl.term === vl.term && cl.index >= vl.index))) granting.push(v);
      }
      if (granting.length >= Math.floor(voters.length / 2) + 1) {
        this.violation(
          `commit durability: ${by.id} applied ${e.index} (term ${e.term}) but ${c.id} (last ${cl.index}@${cl.term}) lacks it ` +
            `and could be elected by {${granting.join(',')}} of {${voters.join(',')}}`,
        );
        return;
      }
    }
  }

  private applyConf(n: SimNode, e: Entry): void {
    const cc = decodeConfChange(e.data);
    const cs = n.node!.applyConfChange(cc);
    n.disk.setConfState(cs);
    const target = this.nodes.get(cc.node);
    if (cc.type === 'removeNode' && target && !target.removed) {
      // A removed node rarely learns of its removal: the operator stops it once it is committed,
      // a moment later so a leader that removed itself can hand over first.
      target.removed = true;
      this.q.push(this.now + 50, () => this.crash(target));
    }
  }

  private serveReads(n: SimNode, rd: Ready): void {
    for (const rs of rd.readStates) {
      const ctx = new TextDecoder().decode(rs.context);
      const w = n.readWaiters.get(ctx);
      if (w) w.index = rs.index;
    }
    for (const [ctx, w] of n.readWaiters) {
      if (w.index > 0 && n.kv.appliedIndex >= w.index) {
        n.readWaiters.delete(ctx);
        w.reply({ kind: 'get', value: n.kv.get(w.key) });
      }
    }
  }

  private maybeCompact(n: SimNode): void {
    const applied = n.kv.appliedIndex;
    const snap = n.disk.snapshot().meta.index;
    if (applied - snap < snapshotEveryEntries || applied > n.disk.lastIndex()) return;
    n.disk.createSnapshot(applied as never, n.node!.raft.confState(), n.kv.snapshot());
    const compactTo = applied - keepEntriesAfterSnapshot;
    if (compactTo > n.disk.firstIndex()) n.disk.compact(compactTo as never);
  }

  // ---------- network ----------

  private sendAll(n: SimNode, msgs: readonly Message[]): void {
    for (const m of msgs) {
      if (m.type === 'snap') this.stats.snapshotsSent++;
      this.sendOne(m);
    }
  }

  private sendOne(m: Message): void {
    if (this.cutLinks.has(`${m.from}>${m.to}`)) return;
    if (this.rnd.float() < this.lossRate) return;
    const copies = this.rnd.float() < this.dupRate ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      // Mostly 1-3 ms; now and then a slow path that reorders.
      const delay = 1 + this.rnd.int(3) + (this.rnd.float() < 0.05 ? this.rnd.int(40) : 0);
      this.q.push(this.now + delay, () => {
        const to = this.nodes.get(m.to);
        if (to) this.receive(to, m);
      });
    }
  }

  // ---------- clients ----------

  private clientNext(client: number): void {
    if (this.now >= this.opts.durationMs + this.opts.healMs - 500) return;
    const key = keys[this.rnd.int(keys.length)]!;
    const r = this.rnd.float();
    const value = `v${this.nextOpId}`;
    const input: KvInput =
      r < 0.45
        ? { kind: 'get', key }
        : r < 0.8
          ? { kind: 'put', key, value }
          : { kind: 'cas', key, expect: this.rnd.float() < 0.5 ? null : `v${this.rnd.int(this.nextOpId + 1)}`, value };
    const op: Operation = { id: this.nextOpId++, client, call: this.now, ret: null, input, output: null };
    this.history.push(op);
    this.stats.ops++;
    this.attempt(client, { op, seq: op.id, attempt: 0, target: this.pickTarget(), done: false });
  }

  private pickTarget(): NodeId {
    const live = [...this.nodes.values()].filter((n) => !n.removed);
    if (this.lastLeaderGuess && this.rnd.float() < 0.7) return this.lastLeaderGuess;
    return live[this.rnd.int(live.length)]!.id;
  }

  private attempt(client: number, c: ClientOp): void {
    const attempt = c.attempt;
    const reply = (out: KvOutput | { error: string }): void => {
      // The reply travels back over the client's own link (1-2 ms).
      this.q.push(this.now + 1 + this.rnd.int(2), () => this.clientReply(client, c, attempt, out));
    };
    this.q.push(this.now + 1 + this.rnd.int(2), () => this.serveClient(c, reply));
    this.q.push(this.now + clientAttemptTimeoutMs, () => this.clientReply(client, c, attempt, { error: 'timeout' }));
  }

  private clientReply(client: number, c: ClientOp, attempt: number, out: KvOutput | { error: string }): void {
    if (c.done || c.attempt !== attempt) return;
    if (!('error' in out)) {
      c.done = true;
      c.op.ret = this.now;
      c.op.output = out;
      this.stats.acked++;
      this.lastLeaderGuess = c.target;
      this.q.push(this.now + this.rnd.int(20), () => this.clientNext(client));
      return;
    }
    c.attempt++;
    if (c.attempt < clientAttemptsMax) {
      c.target = this.pickTarget();
      this.q.push(this.now + 5 + this.rnd.int(20), () => this.attempt(client, c));
      return;
    }
    // Unknown outcome: the op stays pending forever; this client continues as a new process.
    c.done = true;
    this.q.push(this.now + this.rnd.int(20), () => this.clientNext(this.nextClientId++));
  }

  private serveClient(c: ClientOp, reply: Reply): void {
    const n = this.nodes.get(c.target);
    if (!n || !n.node || n.paused) return; // no answer: the client times out
    const input = c.op.input;
    try {
      if (input.kind === 'get') {
        const ctx = `${c.op.client}:${c.seq}:${c.attempt}`;
        n.readWaiters.set(ctx, { key: input.key, reply, index: 0 });
        if (this.opts.bug === 'readNoQuorum') {
          n.readWaiters.get(ctx)!.index = n.node.raft.log.committed; // serve from local state: stale after a partition
          this.serveReads(n, { readStates: [] } as unknown as Ready);
        } else n.node.readIndex(new TextEncoder().encode(ctx));
      } else {
        const cmd: KvCommand = { client: c.op.client, seq: c.seq, input };
        n.writeWaiters.set(`${cmd.client}:${cmd.seq}`, reply);
        n.node.propose(encodeCommand(cmd));
      }
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
      reply({ error: e.code });
    }
    this.pump(n);
  }

  // ---------- nemesis ----------

  private nemesis(): void {
    if (this.healing) return;
    const members = [...this.nodes.values()].filter((n) => !n.removed);
    const pick = (): SimNode => members[this.rnd.int(members.length)]!;
    const leader = this.leaderNode();
    if (this.profile.leaderHunt && leader && this.rnd.float() < 0.4) {
      this.nemesisIsolate(leader);
      const gap = Math.round((50 + this.rnd.int(250)) / this.opts.chaos);
      this.q.push(this.now + gap, () => this.nemesis());
      return;
    }
    const r = this.rnd.float();
    if (r < 0.03) this.nemesisPowerFailure(members);
    else if (r < 0.18) this.nemesisCrash(this.crashTarget(members) ?? pick());
    else if (r < 0.3) this.nemesisPartition(members);
    else if (r < 0.38) this.nemesisAsymmetric(members);
    else if (r < 0.5) this.healNetwork();
    else if (r < 0.58) this.nemesisPause(pick());
    else if (r < 0.66) {
      this.lossRate = this.rnd.float() < 0.5 ? 0 : this.rnd.float() * 0.2;
      this.dupRate = this.rnd.float() * 0.05;
    } else if (r < 0.82) this.nemesisMembership(members);
    else if (r < 0.9) this.nemesisTransfer(members);
    const gap = Math.round((100 + this.rnd.int(400)) / this.opts.chaos);
    this.q.push(this.now + gap, () => this.nemesis());
  }

  private leaderNode(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (n.node?.raft.role === 'leader' && (!best || n.node.raft.term > best.node!.raft.term)) best = n;
    }
    return best;
  }

  /** The leader half of the time; otherwise preferably a node in the middle of a write. */
  private crashTarget(members: SimNode[]): SimNode | undefined {
    if (this.rnd.float() < 0.5) return this.leaderNode();
    const writing = members.filter((n) => n.busy);
    return writing.length > 0 ? writing[this.rnd.int(writing.length)] : undefined;
  }

  /** Every node loses power at the same instant: only what was fsynced survives anywhere. */
  private nemesisPowerFailure(members: SimNode[]): void {
    this.log('power failure: every node down');
    for (const n of members) this.nemesisCrash(n);
  }

  private nemesisCrash(n: SimNode): void {
    if (!n.up) return;
    this.crash(n);
    this.q.push(this.now + 20 + this.rnd.int(600), () => {
      if (!n.up && !n.removed) {
        this.log(`restart ${n.id}`);
        this.startNode(n.id);
      }
    });
  }

  private nemesisPartition(members: SimNode[]): void {
    this.cutLinks.clear();
    this.partitionGen++;
    const side = new Set(members.filter(() => this.rnd.float() < 0.5).map((n) => n.id));
    for (const a of members) for (const b of members) if (side.has(a.id) !== side.has(b.id)) this.cutLinks.add(`${a.id}>${b.id}`);
    this.stats.partitions++;
    this.log(`partition {${[...side].join(',')}} | rest`);
  }

  /** Leader-in-minority partition (Jepsen): `n` and a few others against a majority, healed after a while. */
  private nemesisIsolate(n: SimNode): void {
    const members = [...this.nodes.values()].filter((m) => !m.removed);
    const others = members.filter((m) => m !== n);
    const side = new Set([n.id]);
    for (let k = this.rnd.int(Math.floor((members.length - 1) / 2)); k > 0; k--) {
      side.add(others.splice(this.rnd.int(others.length), 1)[0]!.id);
    }
    this.cutLinks.clear();
    for (const a of members) for (const b of members) if (side.has(a.id) !== side.has(b.id)) this.cutLinks.add(`${a.id}>${b.id}`);
    const gen = ++this.partitionGen;
    this.stats.partitions++;
    this.log(`isolate {${[...side].join(',')}} | rest`);
    this.q.push(this.now + 100 + this.rnd.int(500), () => {
      if (this.partitionGen === gen && !this.healing) this.healNetwork();
    });
  }

  private nemesisAsymmetric(members: SimNode[]): void {
    const a = members[this.rnd.int(members.length)]!;
    for (const b of members) if (b !== a && this.rnd.float() < 0.6) this.cutLinks.add(`${a.id}>${b.id}`);
    this.stats.partitions++;
    this.log(`asymmetric: ${a.id} cannot send to some peers`);
  }

  private healNetwork(): void {
    this.cutLinks.clear();
    this.partitionGen++;
    this.log('network healed');
  }

  private nemesisPause(n: SimNode): void {
    if (!n.up || n.paused) return;
    n.paused = true;
    this.log(`pause ${n.id}`);
    const epoch = n.epoch;
    this.q.push(this.now + 50 + this.rnd.int(500), () => this.resume(n, epoch));
  }

  private resume(n: SimNode, epoch: number): void {
    if (n.epoch !== epoch || !n.paused || !n.node) return;
    n.paused = false;
    const inbox = n.inbox;
    n.inbox = [];
    if (!n.busy) for (const m of inbox) n.node.step(m);
    else n.inbox = inbox;
    this.pump(n);
  }

  private nemesisMembership(members: SimNode[]): void {
    const leader = this.leaderNode();
    if (!leader || !leader.node || leader.paused) return;
    const raft = leader.node.raft;
    const conf = raft.confState();
    const learner = conf.learners[0];
    try {
      if (learner !== undefined) {
        this.log(`promote ${learner}`);
        leader.node.proposeConfChange({ type: 'addNode', node: learner });
      } else if (members.length < membersMax && this.rnd.float() < 0.6) {
        const id = this.newNodeId();
        this.createNode(id, { voters: [], learners: [] });
        this.startNode(id);
        this.log(`add learner ${id}`);
        leader.node.proposeConfChange({ type: 'addLearner', node: id });
      } else if (conf.voters.length > votersMin) {
        const victim = conf.voters[this.rnd.int(conf.voters.length)]!;
        this.log(`remove ${victim}${victim === leader.id ? ' (the leader)' : ''}`);
        leader.node.proposeConfChange({ type: 'removeNode', node: victim });
      } else return;
      this.stats.confChanges++;
    } catch (e) {
      if (!(e instanceof RaftError)) throw e;
      this.log(`conf change refused: ${e.code}`);
    }
    this.pump(leader);
  }

  private nemesisTransfer(members: SimNode[]): void {
    const leader = this.leaderNode();
    if (!leader || !leader.node || leader.paused) return;
    const voters = leader.node.raft.voters().filter((v) => v !== leader.id);
    if (voters.length === 0) return;
    const to = voters[this.rnd.int(voters.length)]!;
    this.log(`transfer ${leader.id} -> ${to}`);
    this.stats.transfers++;
    leader.node.transferLeadership(to);
    this.pump(leader);
    void members;
  }

  // ---------- heal, liveness, checks ----------

  private heal(): void {
    this.healing = true;
    this.healNetwork();
    this.lossRate = 0;
    this.dupRate = 0;
    for (const n of this.nodes.values()) {
      if (n.removed) {
        this.crash(n); // an operator stops removed nodes
        continue;
      }
      if (!n.up) this.startNode(n.id);
      else if (n.paused) this.resume(n, n.epoch);
    }
    this.log('heal: all faults cleared');
    this.probeLiveness(this.now);
  }

  /** Once faults heal, a write must commit within healCommitBoundMs (liveness). */
  private probeLiveness(healedAt: number): void {
    const client = this.nextClientId++;
    const cmd: KvCommand = { client, seq: 0, input: { kind: 'put', key: 'probe', value: `p${this.now}` } };
    let done = false;
    const tryOnce = (): void => {
      if (done) return;
      if (this.now - healedAt > healCommitBoundMs) {
        this.violation(`liveness: no commit within ${healCommitBoundMs} ms after faults healed`);
        return;
      }
      const leader = this.leaderNode();
      if (leader?.node && !leader.removed) {
        leader.writeWaiters.set(`${client}:0`, () => {
          if (done) return;
          done = true;
          this.stats.healToCommitMs = this.now - healedAt;
          this.log(`liveness: committed ${this.now - healedAt} ms after heal`);
        });
        try {
          leader.node.propose(encodeCommand(cmd));
          this.pump(leader);
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
      }
      this.q.push(this.now + 100, tryOnce);
    };
    tryOnce();
  }

  private checkpoint(): void {
    this.checkLogMatching();
    this.q.push(this.now + 1000, () => this.checkpoint());
  }

  /** Raft §5.3 Log Matching: same index and term means identical logs up to there. */
  private checkLogMatching(): void {
    const live = [...this.nodes.values()].filter((n) => n.node);
    for (let i = 0; i < live.length; i++) {
      for (let j = i + 1; j < live.length; j++) this.compareLogs(live[i]!, live[j]!);
    }
  }

  private compareLogs(a: SimNode, b: SimNode): void {
    const la = a.node!.raft.log;
    const lb = b.node!.raft.log;
    const lo = Math.max(la.firstIndex(), lb.firstIndex());
    const hi = Math.min(la.lastIndex(), lb.lastIndex());
    let matched = false;
    for (let k = hi; k >= lo; k--) {
      const ta = la.term(k as never);
      const tb = lb.term(k as never);
      if (!matched) {
        matched = ta === tb;
        if (!matched) continue;
      }
      const ea = la.slice(k as never, (k + 1) as never, Infinity)[0]!;
      const eb = lb.slice(k as never, (k + 1) as never, Infinity)[0]!;
      if (ta !== tb || ea.kind !== eb.kind || !sameBytes(ea.data, eb.data)) {
        this.violation(`log matching: ${a.id} and ${b.id} share a later entry but differ at ${k}`);
        return;
      }
    }
  }

  private finalChecks(): void {
    this.checkLogMatching();
    if (!this.healing) return;
    if (this.stats.healToCommitMs < 0 && !this.violations.some((v) => v.includes('liveness'))) {
      this.violation('liveness: the probe write never committed after heal');
    }
    const res = checkLinearizable(this.history);
    if (!res.ok) this.violation(`linearizability on key ${res.key}: ${res.explanation?.slice(0, 600)}`);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function runSimulation(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}
