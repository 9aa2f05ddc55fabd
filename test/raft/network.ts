// A synchronous in-memory network of RawNodes for unit tests (etcd/raft's `network`).
// Messages are delivered immediately and in order; tests cut links or drop message types.

import {
  MemoryStorage,
  Raft,
  type RaftConfig,
  RawNode,
  type Message,
  type MessageType,
  type NodeId,
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
}

export class Network {
  readonly nodes = new Map<NodeId, NetNode>();
  private readonly cut = new Set<string>();
  private readonly dropTypes = new Set<MessageType>();
  readonly delivered: Message[] = [];

  constructor(voters: NodeId[], overrides: Partial<RaftConfig> = {}, seed = 1, make?: (cfg: RaftConfig) => Raft) {
    for (const [i, id] of voters.entries()) {
      const storage = new MemoryStorage({ voters, learners: [] });
      const cfg: RaftConfig = { id, storage, random: seededRandom(seed * 31 + i), ...overrides };
      this.nodes.set(id, { id, storage, node: new RawNode(make ? make(cfg) : cfg), applied: [] });
    }
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

  private drain(n: NetNode): Message[] {
    const out: Message[] = [];
    while (n.node.hasReady()) {
      const rd = n.node.ready();
      if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
      n.storage.append(rd.entries);
      if (rd.hardState) n.storage.setHardState(rd.hardState);
      out.push(...rd.messages);
      for (const e of rd.committedEntries) {
        if (e.kind === 'conf') continue;
        if (e.data.byteLength > 0) n.applied.push(new TextDecoder().decode(e.data));
      }
      n.node.advance(rd);
    }
    return out;
  }

  private deliver(m: Message): void {
    if (this.cut.has(`${m.from}>${m.to}`) || this.dropTypes.has(m.type)) return;
    const to = this.nodes.get(m.to);
    if (!to) return;
    this.delivered.push(m);
    to.node.step(m);
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
    this.get(id).node.propose(new TextEncoder().encode(data));
    this.settle();
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
}
