// The driver's view of the network (Transport) and an in-memory network of Transports for tests and benches.
// No sockets here: TCP lives in src/cluster/tcp-transport.ts. Delivery timing is injected, never a timer of its own.

import type { Message, NodeId } from './types.ts';

/**
 * Carries Raft messages between the members of one group. Delivery is best
 * effort: messages may be lost, duplicated or reordered, and Raft copes with
 * all of it. `send` never throws for a network condition and never blocks.
 */
export interface Transport {
  /** Queue messages for their `to` peers. The caller may drop its references at once. */
  send(msgs: readonly Message[]): void;
  /** The one handler for inbound messages (a second call replaces it). */
  onMessage(handler: (m: Message) => void): void;
  /**
   * Optional: `peer` could not be reached (connect failed, connection lost,
   * send queue overflowed). The driver turns it into RawNode.reportUnreachable.
   */
  onUnreachable?(handler: (peer: NodeId) => void): void;
  /** Stop sending and receiving; queued messages are dropped. */
  close(): Promise<void>;
}

export interface MemoryNetworkOptions {
  /** How a send is deferred, e.g. setImmediate or queueMicrotask. Never synchronous: a send must not re-enter the sender. */
  schedule: (fn: () => void) => void;
}

/**
 * Endpoints that deliver to each other within one process. Messages are
 * passed by reference (they are immutable). Links can be cut to simulate
 * partitions; a message to a cut link, a closed or an unknown endpoint is
 * dropped and reported unreachable to its sender.
 */
export class MemoryNetwork {
  private readonly endpoints = new Map<NodeId, MemoryEndpoint>();
  private readonly cut = new Set<string>();
  private readonly schedule: (fn: () => void) => void;
  /** Messages delivered, for tests and benches. */
  delivered = 0;
  dropped = 0;

  constructor(opts: MemoryNetworkOptions) {
    this.schedule = opts.schedule;
  }

  /** The endpoint of `id`; a closed endpoint is replaced (a restarted node). */
  endpoint(id: NodeId): Transport {
    const existing = this.endpoints.get(id);
    if (existing !== undefined && !existing.closed) return existing;
    const ep = new MemoryEndpoint(id, this);
    this.endpoints.set(id, ep);
    return ep;
  }

  isolate(id: NodeId): void {
    for (const other of this.endpoints.keys()) if (other !== id) this.cutLink(id, other);
  }

  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}>${b}`).add(`${b}>${a}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** @internal */
  post(from: MemoryEndpoint, msgs: readonly Message[]): void {
    if (msgs.length === 0) return;
    const batch = msgs.slice();
    this.schedule(() => {
      for (const m of batch) this.deliver(from, m);
    });
  }

  private deliver(from: MemoryEndpoint, m: Message): void {
    if (from.closed) return;
    const to = this.endpoints.get(m.to);
    if (to === undefined || to.closed || this.cut.has(`${m.from}>${m.to}`)) {
      this.dropped++;
      from.unreachable(m.to);
      return;
    }
    this.delivered++;
    to.receive(m);
  }
}

class MemoryEndpoint implements Transport {
  readonly id: NodeId;
  closed = false;
  private readonly net: MemoryNetwork;
  private handler: ((m: Message) => void) | undefined;
  private unreachableHandler: ((peer: NodeId) => void) | undefined;

  constructor(id: NodeId, net: MemoryNetwork) {
    this.id = id;
    this.net = net;
  }

  send(msgs: readonly Message[]): void {
    if (!this.closed) this.net.post(this, msgs);
  }

  onMessage(handler: (m: Message) => void): void {
    this.handler = handler;
  }

  onUnreachable(handler: (peer: NodeId) => void): void {
    this.unreachableHandler = handler;
  }

  receive(m: Message): void {
    this.handler?.(m);
  }

  unreachable(peer: NodeId): void {
    this.unreachableHandler?.(peer);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
