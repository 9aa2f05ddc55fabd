// Raft Transport over TCP: one outbound connection per peer, length-prefixed MessagePack frames, bounded queues.
// Owns sockets only; it never interprets Raft beyond checking that a peer speaks for itself (from/to).
//
// SECURITY NOTE: plain TCP, no authentication or encryption: for benches and in-process tests on
// loopback only. Nodes use tls-transport.ts (mutual TLS, certificates of the cluster CA naming each
// node id); with this one any local process can speak for any peer.

import net from 'node:net';
import type { Transport } from '../raft/transport.ts';
import type { Message, NodeId } from '../raft/types.ts';
import { FrameReader, WireError, decodeHello, decodeMessage, encodeHello, encodeMessage, frame, frameHeaderBytes } from './raft-wire.ts';

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

export interface TcpTransportLimits {
  /** Largest frame body sent or accepted. A peer announcing a larger one is disconnected. Default 64 MiB (snapshots travel whole). */
  frameBytesMax: number;
  /** Messages queued for one peer (while connecting or while the socket is backed up). Past it the oldest is dropped. Default 10,000. */
  sendQueueMessagesMax: number;
  /** Encoded bytes queued for one peer, same policy. Default 128 MiB. */
  sendQueueBytesMax: number;
  /** Inbound connections held at once; more are closed on accept. Default 64. */
  inboundConnectionsMax: number;
  /** First delay before reconnecting to a peer; doubles per failure. Default 20 ms. */
  reconnectDelayMsMin: number;
  /** Longest delay between reconnect attempts. Default 1,000 ms. */
  reconnectDelayMsMax: number;
  /** An outbound connect that takes longer is abandoned. Default 2,000 ms. */
  connectTimeoutMs: number;
  /** An inbound connection that does not introduce itself within this is closed. Default 5,000 ms. */
  helloTimeoutMs: number;
}

export const tcpTransportLimitsDefault: TcpTransportLimits = {
  frameBytesMax: 64 << 20,
  sendQueueMessagesMax: 10_000,
  sendQueueBytesMax: 128 << 20,
  inboundConnectionsMax: 64,
  reconnectDelayMsMin: 20,
  reconnectDelayMsMax: 1_000,
  connectTimeoutMs: 2_000,
  helloTimeoutMs: 5_000,
};

/** pino-compatible subset. */
export interface TransportLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
}

export interface TcpTransportOptions {
  id: NodeId;
  /** Where to listen; port 0 takes a free port (see address()). Loopback only until mutual TLS lands. */
  listen: PeerAddress;
  peers: Iterable<readonly [NodeId, PeerAddress]>;
  limits?: Partial<TcpTransportLimits>;
  logger?: TransportLogger;
}

export interface TcpTransportStats {
  framesSent: number;
  framesReceived: number;
  /** Socket writes (each carries every frame queued for that peer since the last one). */
  writes: number;
  /** Messages dropped: queue overflow, oversized, unknown peer, or lost with a failed connection. */
  dropped: number;
  /** Inbound connections closed for a protocol violation (bad frame, oversized frame, bad hello). */
  protocolErrors: number;
}

export class TcpTransport implements Transport {
  readonly id: NodeId;
  readonly stats: TcpTransportStats = { framesSent: 0, framesReceived: 0, writes: 0, dropped: 0, protocolErrors: 0 };
  private readonly limits: TcpTransportLimits;
  private readonly log: TransportLogger;
  private readonly server: net.Server;
  private readonly peers = new Map<NodeId, PeerAddress>();
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly inbound = new Set<net.Socket>();
  private handler: ((m: Message) => void) | undefined;
  private unreachableHandler: ((peer: NodeId) => void) | undefined;
  private closed = false;

  private constructor(opts: TcpTransportOptions) {
    this.id = opts.id;
    this.limits = { ...tcpTransportLimitsDefault, ...opts.limits };
    this.log = opts.logger ?? { warn: (f, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', ...f, msg })}\n`) };
    for (const [id, addr] of opts.peers) if (id !== this.id) this.peers.set(id, addr);
    this.server = net.createServer((s) => this.accept(s));
  }

  /** Listen, then return the transport; outbound connections open on first send. */
  static async listen(opts: TcpTransportOptions): Promise<TcpTransport> {
    const t = new TcpTransport(opts);
    await new Promise<void>((resolve, reject) => {
      t.server.once('error', reject);
      t.server.listen(opts.listen.port, opts.listen.host, () => {
        t.server.off('error', reject);
        resolve();
      });
    });
    return t;
  }

  address(): PeerAddress {
    const a = this.server.address() as net.AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Add or move a peer (membership change, restarted peer on a new port). */
  setPeer(id: NodeId, addr: PeerAddress): void {
    if (id === this.id) return;
    this.peers.set(id, addr);
    this.links.get(id)?.close();
    this.links.delete(id);
  }

  send(msgs: readonly Message[]): void {
    if (this.closed) return;
    for (const m of msgs) {
      const link = this.link(m.to);
      if (link === undefined) {
        this.stats.dropped++;
        continue;
      }
      link.enqueue(m);
    }
  }

  onMessage(handler: (m: Message) => void): void {
    this.handler = handler;
  }

  onUnreachable(handler: (peer: NodeId) => void): void {
    this.unreachableHandler = handler;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.links.values()) l.close();
    this.links.clear();
    for (const s of this.inbound) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private link(to: NodeId): PeerLink | undefined {
    let l = this.links.get(to);
    if (l !== undefined) return l;
    const addr = this.peers.get(to);
    if (addr === undefined) return undefined;
    l = new PeerLink(this, to, addr);
    this.links.set(to, l);
    return l;
  }

  // ---- shared with PeerLink ----

  /** @internal */
  get lim(): TcpTransportLimits {
    return this.limits;
  }

  /** @internal */
  unreachable(peer: NodeId): void {
    if (!this.closed) this.unreachableHandler?.(peer);
  }

  /** @internal */
  warn(fields: Record<string, unknown>, msg: string): void {
    this.log.warn({ subsystem: 'cluster', nodeId: this.id, ...fields }, msg);
  }

  // ---- inbound ----

  private accept(s: net.Socket): void {
    if (this.closed || this.inbound.size >= this.limits.inboundConnectionsMax) {
      s.destroy();
      return;
    }
    s.setNoDelay(true);
    this.inbound.add(s);
    const reader = new FrameReader(this.limits.frameBytesMax);
    let peer: NodeId | undefined;
    const helloTimer = setTimeout(() => s.destroy(), this.limits.helloTimeoutMs);
    s.on('data', (chunk: Buffer) => {
      try {
        for (const body of reader.push(chunk)) {
          if (peer === undefined) {
            peer = this.checkHello(body);
            clearTimeout(helloTimer);
          } else this.deliver(peer, body);
        }
      } catch (e) {
        if (!(e instanceof WireError)) throw e;
        this.stats.protocolErrors++;
        this.warn({ event: 'peerProtocolError', peer, remote: s.remoteAddress, err: e.message }, 'closing a peer connection');
        s.destroy();
      }
    });
    s.on('error', () => {}); // 'close' follows; a reset peer is not news
    s.on('close', () => {
      clearTimeout(helloTimer);
      this.inbound.delete(s);
    });
  }

  private checkHello(body: Uint8Array): NodeId {
    const peer = decodeHello(body);
    if (!this.peers.has(peer)) throw new WireError(`hello from unknown node ${peer}`);
    return peer;
  }

  private deliver(peer: NodeId, body: Uint8Array): void {
    const m = decodeMessage(body);
    if (m.from !== peer || m.to !== this.id) throw new WireError(`message ${m.from}->${m.to} on the link from ${peer}`);
    this.stats.framesReceived++;
    this.handler?.(m);
  }
}

/**
 * The outbound side to one peer: a bounded queue of encoded messages, one
 * socket, reconnect with doubling backoff. Queued frames go out in one write
 * per event-loop turn. When a connection fails, what was queued for it is
 * dropped and the peer reported unreachable: Raft resends what matters.
 */
class PeerLink {
  private readonly t: TcpTransport;
  private readonly peer: NodeId;
  private readonly addr: PeerAddress;
  private queue: Uint8Array[] = [];
  private head = 0;
  private queueBytes = 0;
  private socket: net.Socket | undefined;
  private connected = false;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private delayMs: number;
  private flushScheduled = false;
  private failing = false;
  private closed = false;

  constructor(t: TcpTransport, peer: NodeId, addr: PeerAddress) {
    this.t = t;
    this.peer = peer;
    this.addr = addr;
    this.delayMs = t.lim.reconnectDelayMsMin;
  }

  enqueue(m: Message): void {
    const body = encodeMessage(m);
    const lim = this.t.lim;
    if (body.byteLength > lim.frameBytesMax) {
      this.t.stats.dropped++;
      this.t.warn({ event: 'frameTooLarge', peer: this.peer, type: m.type, bytes: body.byteLength }, 'message larger than the frame limit dropped');
      this.t.unreachable(this.peer);
      return;
    }
    let overflow = false;
    while (this.length() > 0 && (this.length() >= lim.sendQueueMessagesMax || this.queueBytes + body.byteLength > lim.sendQueueBytesMax)) {
      this.dropOldest();
      overflow = true;
    }
    this.queue.push(body);
    this.queueBytes += body.byteLength;
    if (overflow) this.t.unreachable(this.peer);
    if (this.socket === undefined && this.reconnectTimer === undefined) this.connect();
    else if (this.connected) this.scheduleFlush();
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
    this.clearQueue();
  }

  private length(): number {
    return this.queue.length - this.head;
  }

  private dropOldest(): void {
    this.queueBytes -= this.queue[this.head]!.byteLength;
    this.queue[this.head++] = undefined as unknown as Uint8Array;
    this.t.stats.dropped++;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  private clearQueue(): number {
    const n = this.length();
    this.t.stats.dropped += n;
    this.queue = [];
    this.head = 0;
    this.queueBytes = 0;
    return n;
  }

  private connect(): void {
    this.reconnectTimer = undefined;
    if (this.closed) return;
    const s = net.createConnection({ host: this.addr.host, port: this.addr.port });
    this.socket = s;
    s.setNoDelay(true);
    const timer = setTimeout(() => s.destroy(new Error('connect timeout')), this.t.lim.connectTimeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      this.connected = true;
      this.delayMs = this.t.lim.reconnectDelayMsMin;
      if (this.failing) this.t.warn({ event: 'peerReachable', peer: this.peer }, 'peer reachable again');
      this.failing = false;
      s.write(frame(encodeHello(this.t.id)));
      this.flush();
    });
    s.on('drain', () => this.flush());
    s.on('data', () => {}); // peers never answer on our outbound link
    s.on('error', (e) => {
      if (!this.failing) this.t.warn({ event: 'peerUnreachable', peer: this.peer, err: e.message }, 'peer connection failed');
      this.failing = true;
    });
    s.on('close', () => {
      clearTimeout(timer);
      this.onClose(s);
    });
  }

  private onClose(s: net.Socket): void {
    if (this.socket !== s) return;
    this.socket = undefined;
    this.connected = false;
    if (this.closed) return;
    this.clearQueue();
    this.t.unreachable(this.peer);
    this.reconnectTimer = setTimeout(() => this.connect(), this.delayMs);
    this.delayMs = Math.min(this.delayMs * 2, this.t.lim.reconnectDelayMsMax);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Everything queued, in one write. Waits for 'drain' while the socket is backed up (the queue bound applies). */
  private flush(): void {
    const s = this.socket;
    const n = this.length();
    if (s === undefined || !this.connected || n === 0 || s.writableNeedDrain) return;
    const out = Buffer.allocUnsafe(this.queueBytes + n * frameHeaderBytes);
    let at = 0;
    for (let i = this.head; i < this.queue.length; i++) {
      const body = this.queue[i]!;
      out.writeUInt32BE(body.byteLength, at);
      out.set(body, at + frameHeaderBytes);
      at += frameHeaderBytes + body.byteLength;
    }
    this.queue = [];
    this.head = 0;
    this.queueBytes = 0;
    this.t.stats.framesSent += n;
    this.t.stats.writes++;
    s.write(out);
  }
}
