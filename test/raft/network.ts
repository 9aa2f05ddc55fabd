// A synchronous in-memory network of RawNodes for unit tests (etcd/raft's `network`).
// Messages are delivered immediately and in order; tests cut links, drop message types or rewrite messages.

import {
  type ConfChange,
  type ConfState,
  MemoryStorage,
  Raft,
  type RaftConfig,
  RawNode,
  type ReadState,
  type Ready,
  type Message,
  type MessageType,
  type NodeId,
  type Snapshot,
  decodeConfChange,
  nodeId,
  seededRandom,
} from '../../src/raft/index.ts';

export const ids = (...n: number[]): NodeId[] => n.map((i) => nodeId(`n${i}`));

export interface NetNode {
  readonly id: NodeId;
  readonly node: RawNode;
  readonly storage: MemoryStorage;
  /** Application entries applied, in order (data as strings). */
  readonly applied: string[];
  /** ReadStates handed out by the node's Readys, in order. */
  readonly readStates: ReadState[];
}

/**
 * Rewrites (or, returning undefined, drops) a message in flight. Tests use it
 * for faults finer than a cut link: one message type to one node, entries
 * stripped from an append.
 */
export type Intercept = (m: Message) => Message | undefined;

/** Readys one node may produce in one drain before the network gives up on it. */
const readysPerDrainMax = 1000;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** The test state machine's snapshot image: the list of applied strings, as JSON; empty = nothing applied. */
export function encodeAppliedState(applied: readonly string[]): Uint8Array {
  return utf8.encode(JSON.stringify(applied));
}

export function decodeAppliedState(data: Uint8Array): string[] {
  if (data.byteLength === 0) return [];
  const v: unknown = JSON.parse(fromUtf8.decode(data));
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw new Error('snapshot data is not an applied-state image');
  return v;
}

export class Network {
  readonly nodes = new Map<NodeId, NetNode>();
  private readonly cut = new Set<string>();
  private readonly dropTypes = new Set<MessageType>();
  readonly delivered: Message[] = [];
  /** Applied to every message before delivery; cleared by heal(). */
  intercept: Intercept | undefined;
  /** Called for every Ready, after it is persisted and applied, before advance(). */
  onReady: ((n: NetNode, rd: Ready) => void) | undefined;
  private readonly overrides: Partial<RaftConfig>;
  private readonly seed: number;
  private readonly make: ((cfg: RaftConfig) => Raft) | undefined;
  private started = 0;

  constructor(voters: NodeId[], overrides: Partial<RaftConfig> = {}, seed = 1, make?: (cfg: RaftConfig) => Raft) {
    this.overrides = overrides;
    this.seed = seed;
    this.make = make;
    for (const id of voters) this.start(id, new MemoryStorage({ voters, learners: [] }));
  }

  /**
   * A group whose founding members hold their membership as a snapshot at
   * index 1 (MemoryStorage.bootstrap), so a node added later learns it from
   * the leader. Needed by every test that adds nodes.
   */
  static bootstrapped(voters: NodeId[], overrides: Partial<RaftConfig> = {}, seed = 1): Network {
    const net = new Network([], overrides, seed);
    const conf: ConfState = { voters, learners: [] };
    for (const id of voters) net.start(id, MemoryStorage.bootstrap(conf));
    return net;
  }

  /**
   * (Re)start node `id` on `storage`: what it persisted is all it keeps. The
   * applied list survives a restart (the state machine is the test's), so
   * `overrides.applied` should say how far it got.
   */
  start(id: NodeId, storage: MemoryStorage, overrides: Partial<RaftConfig> = {}): NetNode {
    const cfg: RaftConfig = {
      id,
      storage,
      random: seededRandom(this.seed * 31 + this.started++),
      ...this.overrides,
      ...overrides,
    };
    const prev = this.nodes.get(id);
    const n: NetNode = {
      id,
      storage,
      node: new RawNode(this.make ? this.make(cfg) : cfg),
      applied: prev?.applied ?? [],
      readStates: prev?.readStates ?? [],
    };
    this.nodes.set(id, n);
    return n;
  }

  /** A brand-new member with an empty log and no membership: it learns both from the leader. */
  addNode(id: NodeId, overrides: Partial<RaftConfig> = {}): NetNode {
    return this.start(id, new MemoryStorage(), overrides);
  }

  /** Crash and restart `id` from its storage (hard state, entries, snapshot, conf state). */
  restart(id: NodeId): NetNode {
    const n = this.get(id);
    return this.start(id, n.storage, { applied: n.node.raft.log.applied });
  }

  get(id: NodeId): NetNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: NodeId): Raft {
    return this.get(id).node.raft;
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cutLink(id, other);
  }

  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}>${b}`).add(`${b}>${a}`);
  }

  heal(): void {
    this.cut.clear();
    this.dropTypes.clear();
    this.intercept = undefined;
  }

  drop(t: MessageType): void {
    this.dropTypes.add(t);
  }

  /** Run every node's Ready loop until no message is in flight. */
  settle(maxRounds = 10_000): void {
    for (let round = 0; round < maxRounds; round++) {
      const inflight: Message[] = [];
      for (const n of this.nodes.values()) inflight.push(...this.drain(n));
      if (inflight.length === 0) return;
      for (const m of inflight) this.deliver(m);
    }
    throw new Error('network did not settle');
  }

  /** The driver loop of etcd/raft: persist, send, apply (data, conf changes, snapshots), advance. */
  private drain(n: NetNode): Message[] {
    const out: Message[] = [];
    for (let readys = 0; n.node.hasReady(); readys++) {
      // A node that never runs out of Readys is a bug under test: fail instead of hanging.
      if (readys === readysPerDrainMax) throw new Error(`${n.id} still has a Ready after ${readys} in a row`);
      const rd = n.node.ready();
      if (rd.snapshot) {
        n.storage.applySnapshot(rd.snapshot);
        n.applied.splice(0, n.applied.length, ...decodeAppliedState(rd.snapshot.data));
      }
      n.storage.append(rd.entries);
      if (rd.hardState) n.storage.setHardState(rd.hardState);
      out.push(...rd.messages);
      for (const e of rd.committedEntries) {
        if (e.kind === 'conf') n.storage.setConfState(n.node.applyConfChange(decodeConfChange(e.data)));
        else if (e.data.byteLength > 0) n.applied.push(fromUtf8.decode(e.data));
      }
      n.readStates.push(...rd.readStates);
      this.onReady?.(n, rd);
      n.node.advance(rd);
    }
    return out;
  }

  private deliver(original: Message): void {
    const delivered = this.transmit(original);
    // As a transport does, tell the sender whether its snapshot got through (RawNode.reportSnapshot):
    // without the report a leader waits on a lost snapshot forever.
    if (original.type === 'snap') this.nodes.get(original.from)?.node.reportSnapshot(original.to, delivered);
  }

  private transmit(original: Message): boolean {
    if (this.cut.has(`${original.from}>${original.to}`) || this.dropTypes.has(original.type)) return false;
    const m = this.intercept ? this.intercept(original) : original;
    if (m === undefined) return false;
    const to = this.nodes.get(m.to);
    if (!to) return false;
    this.delivered.push(m);
    to.node.step(m);
    return true;
  }

  /** Step a message as if it arrived from the network, then settle. */
  send(m: Message): void {
    this.deliver(m);
    this.settle();
  }

  campaign(id: NodeId): void {
    this.get(id).node.campaign();
    this.settle();
  }

  propose(id: NodeId, data: string): void {
    this.get(id).node.propose(utf8.encode(data));
    this.settle();
  }

  proposeConfChange(id: NodeId, cc: ConfChange): void {
    this.get(id).node.proposeConfChange(cc);
    this.settle();
  }

  readIndex(id: NodeId, context: string): void {
    this.get(id).node.readIndex(utf8.encode(context));
    this.settle();
  }

  transferLeadership(from: NodeId, to: NodeId): void {
    this.get(from).node.transferLeadership(to);
    this.settle();
  }

  /**
   * The application of `id` snapshots its state machine at its applied index
   * and compacts its log up to there (Raft §7).
   */
  compact(id: NodeId): Snapshot {
    const n = this.get(id);
    const raft = n.node.raft;
    const at = raft.log.applied;
    const snap = n.storage.createSnapshot(at, raft.confState(), encodeAppliedState(n.applied));
    n.storage.compact(at);
    return snap;
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.get(id).node.tick();
    this.settle();
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const x of this.nodes.values()) x.node.tick();
      this.settle();
    }
  }

  leader(): NodeId | undefined {
    for (const n of this.nodes.values()) if (n.node.raft.role === 'leader') return n.id;
    return undefined;
  }

  /** Every node that believes it leads (more than one only in different terms). */
  leaders(): NodeId[] {
    const out: NodeId[] = [];
    for (const n of this.nodes.values()) if (n.node.raft.role === 'leader') out.push(n.id);
    return out;
  }
}
