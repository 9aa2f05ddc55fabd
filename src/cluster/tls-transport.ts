// The inter-node data plane over mutual TLS: Raft messages (Transport) and request/response (PeerRpc),
// each on its own connections. Owns sockets and the members allowed in; never interprets Raft or RPC bodies.

import tls from 'node:tls';
import type { Transport } from '../raft/transport.ts';
import type { Message, NodeId } from '../raft/types.ts';
import { nodeIdOfPeer } from './ca.ts';
import type { NodeIdentity } from './identity.ts';
import * as L from './limits.ts';
import { PeerError, type PeerRequestOptions, type PeerRpc } from './peer.ts';
import { type LinkHost, RaftLink, RpcLink, SlicedWriter, type TlsTransportLimits, type TlsTransportStats } from './peer-links.ts';
import { type Channel, decodeHello, decodeRpc, encodeRpc } from './peer-wire.ts';
import { FrameReader, WireError, decodeMessage } from './raft-wire.ts';
import { type PeerAddress, serverOptions } from './tls-dial.ts';

export type { PeerAddress } from './tls-dial.ts';
export type { TlsTransportLimits, TlsTransportStats } from './peer-links.ts';

export const tlsTransportLimitsDefault: TlsTransportLimits = {
  raftFrameBytesMax: L.raftFrameBytesMax,
  rpcFrameBytesMax: L.rpcFrameBytesMax,
  raftSendQueueMessagesMax: L.raftSendQueueMessagesMax,
  raftSendQueueBytesMax: L.raftSendQueueBytesMax,
  rpcInflightRequestsMax: L.rpcInflightRequestsMax,
  rpcSendQueueBytesMax: L.rpcSendQueueBytesMax,
  rpcWriteSliceBytes: L.rpcWriteSliceBytes,
  rpcServingRequestsMax: L.rpcServingRequestsMax,
  rpcTimeoutMsDefault: L.rpcTimeoutMsDefault,
  inboundConnectionsMax: L.inboundConnectionsMax,
  reconnectDelayMsMin: L.reconnectDelayMsMin,
  reconnectDelayMsMax: L.reconnectDelayMsMax,
  connectTimeoutMs: L.connectTimeoutMs,
  helloTimeoutMs: L.helloTimeoutMs,
};

/** pino-compatible subset. */
export interface TransportLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
}

export interface TlsTransportOptions {
  identity: NodeIdentity;
  /** Where to listen; port 0 takes a free port (see address()). */
  listen: PeerAddress;
  /** The members this node talks to and accepts connections from, with their addresses. */
  peers: Iterable<readonly [string, PeerAddress]>;
  limits?: Partial<TlsTransportLimits>;
  logger?: TransportLogger;
}

type Handler = (from: NodeId, body: unknown, signal: AbortSignal) => Promise<unknown>;

export class TlsTransport implements Transport, PeerRpc, LinkHost {
  readonly self: NodeId;
  readonly identity: NodeIdentity;
  readonly lim: TlsTransportLimits;
  readonly stats: TlsTransportStats = {
    raftFramesSent: 0, raftFramesReceived: 0, raftDropped: 0, rpcRequestsSent: 0, rpcRequestsServed: 0,
    handshakesRefused: 0, identitiesRefused: 0, protocolErrors: 0,
  };
  private readonly log: TransportLogger;
  private readonly server: tls.Server;
  private readonly peers = new Map<NodeId, PeerAddress>();
  private readonly raftLinks = new Map<NodeId, RaftLink>();
  private readonly rpcLinks = new Map<NodeId, RpcLink>();
  /** Authenticated inbound connections by peer, closed when the peer leaves the membership. */
  private readonly inbound = new Map<NodeId, Set<tls.TLSSocket>>();
  private readonly services = new Map<string, Handler>();
  private handler: ((m: Message) => void) | undefined;
  private unreachableHandler: ((peer: NodeId) => void) | undefined;
  private closed = false;
  private lastIdentityLogMs = -Infinity;

  private constructor(opts: TlsTransportOptions) {
    this.identity = opts.identity;
    this.self = opts.identity.nodeId as NodeId;
    this.lim = { ...tlsTransportLimitsDefault, ...opts.limits };
    this.log = opts.logger ?? { warn: (f, msg) => process.stderr.write(`${JSON.stringify({ level: 'warn', ...f, msg })}\n`) };
    for (const [id, addr] of opts.peers) if (id !== this.self) this.peers.set(id as NodeId, addr);
    this.server = tls.createServer(serverOptions(this.identity, this.lim.helloTimeoutMs), (s) => this.accept(s));
    this.server.maxConnections = this.lim.inboundConnectionsMax;
    // Anyone can knock: count every refusal, log at most one line per L.refusalLogIntervalMs.
    let lastLogMs = -Infinity;
    let unlogged = 0;
    this.server.on('tlsClientError', (err, s) => {
      this.stats.handshakesRefused++;
      unlogged++;
      if (Date.now() - lastLogMs < L.refusalLogIntervalMs) return;
      lastLogMs = Date.now();
      this.warn({ event: 'handshakeRefused', remote: s.remoteAddress, err: err.message, refused: unlogged }, 'inbound TLS handshake refused');
      unlogged = 0;
    });
  }

  /** Listen, then return the transport; outbound connections open on first use. */
  static async listen(opts: TlsTransportOptions): Promise<TlsTransport> {
    const t = new TlsTransport(opts);
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
    const a = this.server.address() as { address: string; port: number };
    return { host: a.address, port: a.port };
  }

  /** The members allowed in, by id. */
  members(): ReadonlyMap<NodeId, PeerAddress> {
    return this.peers;
  }

  /** Add a member or move one (a restarted peer on a new address): its links are reopened. */
  setPeer(id: string, addr: PeerAddress): void {
    if (id === this.self) return;
    this.peers.set(id as NodeId, addr);
    this.dropLinks(id as NodeId);
  }

  /** A member left: its links and inbound connections close, and it is refused from now on. */
  removePeer(id: string): void {
    this.peers.delete(id as NodeId);
    this.dropLinks(id as NodeId);
    for (const s of this.inbound.get(id as NodeId) ?? []) s.destroy();
    this.inbound.delete(id as NodeId);
  }

  // ---- Transport (Raft) ----

  send(msgs: readonly Message[]): void {
    if (this.closed) return;
    for (const m of msgs) {
      const link = this.link(this.raftLinks, m.to, RaftLink);
      if (link === undefined) this.stats.raftDropped++;
      else link.enqueue(m);
    }
  }

  onMessage(handler: (m: Message) => void): void {
    this.handler = handler;
  }

  onUnreachable(handler: (peer: NodeId) => void): void {
    this.unreachableHandler = handler;
  }

  // ---- PeerRpc ----

  async request(peer: NodeId, service: string, body: unknown, o: PeerRequestOptions = {}): Promise<unknown> {
    if (this.closed) throw new PeerError('ABORTED', 'the transport is closed');
    const link = this.link(this.rpcLinks, peer, RpcLink);
    if (link === undefined) throw new PeerError('UNREACHABLE', `${peer} is not a member`);
    return link.request(service, body, o);
  }

  serve(service: string, handler: Handler): void {
    this.services.set(service, handler);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const id of [...this.raftLinks.keys(), ...this.rpcLinks.keys()]) this.dropLinks(id);
    for (const set of this.inbound.values()) for (const s of set) s.destroy();
    this.inbound.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- LinkHost ----

  unreachable(peer: NodeId): void {
    if (!this.closed) this.unreachableHandler?.(peer);
  }

  warn(fields: Record<string, unknown>, msg: string): void {
    this.log.warn({ subsystem: 'cluster', nodeId: this.self, ...fields }, msg);
  }

  private link<T>(links: Map<NodeId, T>, to: NodeId, make: new (h: LinkHost, peer: NodeId, addr: PeerAddress) => T): T | undefined {
    let l = links.get(to);
    if (l !== undefined) return l;
    const addr = this.peers.get(to);
    if (addr === undefined) return undefined;
    l = new make(this, to, addr);
    links.set(to, l);
    return l;
  }

  private dropLinks(id: NodeId): void {
    this.raftLinks.get(id)?.close();
    this.raftLinks.delete(id);
    this.rpcLinks.get(id)?.close();
    this.rpcLinks.delete(id);
  }

  // ---- inbound ----

  /**
   * A connection whose certificate the CA vouches for (node:tls checked the chain). It must name
   * a member, and its hello must claim that same member; anything else is refused before any
   * frame is acted on.
   */
  private accept(s: tls.TLSSocket): void {
    const certId = nodeIdOfPeer(s.getPeerCertificate());
    if (this.closed || certId === undefined) {
      if (certId === undefined) this.stats.identitiesRefused++;
      return void s.destroy();
    }
    s.setNoDelay(true);
    // One limit for both channels: frames after the hello may arrive in the hello's own chunk.
    const reader = new FrameReader(Math.max(this.lim.raftFrameBytesMax, this.lim.rpcFrameBytesMax));
    let onFrame: ((body: Buffer) => void) | undefined;
    const helloTimer = setTimeout(() => s.destroy(), this.lim.helloTimeoutMs);
    s.on('data', (chunk: Buffer) => {
      try {
        for (const body of reader.push(chunk)) {
          if (onFrame !== undefined) {
            onFrame(body);
            continue;
          }
          clearTimeout(helloTimer);
          const { peer, channel } = this.checkHello(certId, body);
          this.track(peer, s);
          onFrame = channel === 'raft' ? (b) => this.deliver(peer, b) : this.rpcServer(peer, s);
        }
      } catch (e) {
        this.refuse(s, certId, e);
      }
    });
    s.on('error', () => {}); // 'close' follows; a reset peer is not news
    s.on('close', () => clearTimeout(helloTimer));
  }

  private checkHello(certId: string, body: Uint8Array): { peer: NodeId; channel: Channel } {
    const hello = decodeHello(body);
    if (hello.from !== certId) throw new IdentityMismatch(`certificate names ${certId}, hello claims ${hello.from}`);
    if (!this.peers.has(certId as NodeId)) throw new IdentityMismatch(`${certId} is not a member`);
    return { peer: certId as NodeId, channel: hello.channel };
  }

  private refuse(s: tls.TLSSocket, certId: string, e: unknown): void {
    if (e instanceof IdentityMismatch) {
      this.stats.identitiesRefused++;
      // A removed member keeps knocking (with backoff): one line per interval is enough.
      if (Date.now() - this.lastIdentityLogMs >= L.refusalLogIntervalMs) {
        this.lastIdentityLogMs = Date.now();
        this.warn({ event: 'peerRefused', cert: certId, remote: s.remoteAddress, err: e.message, refusedTotal: this.stats.identitiesRefused }, 'inbound peer refused');
      }
    } else {
      this.stats.protocolErrors++;
      this.warn({ event: 'peerProtocolError', cert: certId, remote: s.remoteAddress, err: (e as Error).message }, 'closing a peer connection');
    }
    s.destroy();
  }

  private track(peer: NodeId, s: tls.TLSSocket): void {
    let set = this.inbound.get(peer);
    if (set === undefined) this.inbound.set(peer, (set = new Set()));
    set.add(s);
    s.on('close', () => set.delete(s));
  }

  private deliver(peer: NodeId, body: Uint8Array): void {
    const m = decodeMessage(body);
    if (m.from !== peer || m.to !== this.self) throw new WireError(`message ${m.from}->${m.to} on the link from ${peer}`);
    this.stats.raftFramesReceived++;
    this.handler?.(m);
  }

  /** The serving side of one inbound rpc connection: handlers run concurrently, bounded; answers by id. */
  private rpcServer(peer: NodeId, s: tls.TLSSocket): (body: Buffer) => void {
    const running = new Map<number, AbortController>();
    s.on('close', () => {
      for (const ac of running.values()) ac.abort();
    });
    const writer = new SlicedWriter(s, this.lim.rpcWriteSliceBytes);
    s.on('drain', () => {
      if (writer.backlog() <= this.lim.rpcSendQueueBytesMax) s.resume();
    });
    const reply = (f: Parameters<typeof encodeRpc>[0]): void => {
      if (s.destroyed) return;
      let out = encodeRpc(f);
      if (out.byteLength > this.lim.rpcFrameBytesMax) {
        out = encodeRpc({ kind: 'failure', id: f.id, code: 'TOO_LARGE', message: `answer of ${out.byteLength} bytes > limit ${this.lim.rpcFrameBytesMax}`, remoteCode: undefined });
      }
      writer.frame(out);
      // Backpressure: stop reading requests while answers pile up unsent.
      if (writer.backlog() > this.lim.rpcSendQueueBytesMax) s.pause();
    };
    return (body) => {
      const f = decodeRpc(body);
      if (f.kind === 'cancel') return running.get(f.id)?.abort();
      if (f.kind !== 'request') throw new WireError(`a ${f.kind} frame on an inbound rpc link`);
      const handler = this.services.get(f.service);
      if (handler === undefined) return reply({ kind: 'failure', id: f.id, code: 'NO_SERVICE', message: `${this.self} does not serve ${f.service}`, remoteCode: undefined });
      if (running.size >= this.lim.rpcServingRequestsMax || running.has(f.id)) {
        return reply({ kind: 'failure', id: f.id, code: 'REMOTE', message: `${this.self} is busy`, remoteCode: 'BUSY' });
      }
      const ac = new AbortController();
      running.set(f.id, ac);
      this.stats.rpcRequestsServed++;
      Promise.resolve()
        .then(() => handler(peer, f.body, ac.signal))
        .then(
          (value) => reply({ kind: 'answer', id: f.id, value }),
          (e: unknown) => {
            const code = (e as { code?: unknown }).code;
            reply({ kind: 'failure', id: f.id, code: 'REMOTE', message: e instanceof Error ? e.message : String(e), remoteCode: typeof code === 'string' ? code : undefined });
          },
        )
        .catch((e: unknown) => reply({ kind: 'failure', id: f.id, code: 'REMOTE', message: `answer not encodable: ${(e as Error).message}`, remoteCode: undefined }))
        .finally(() => running.delete(f.id));
    };
  }
}

class IdentityMismatch extends Error {}
