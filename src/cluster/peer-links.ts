// The outbound side to one peer: RaftLink (a bounded queue of Raft frames, reconnect with backoff) and
// RpcLink (requests awaiting answers, deadlines, cancel). Each owns one TLS connection; neither ever listens.

import type tls from 'node:tls';
import type { Message, NodeId } from '../raft/types.ts';
import { PeerError, type PeerRequestOptions } from './peer.ts';
import type { NodeIdentity } from './identity.ts';
import { type RpcFrame, decodeRpc, encodeRpc } from './peer-wire.ts';
import { FrameReader, WireError, encodeMessage, frameHeaderBytes } from './raft-wire.ts';
import { type PeerAddress, dial } from './tls-dial.ts';

export interface TlsTransportLimits {
  raftFrameBytesMax: number;
  rpcFrameBytesMax: number;
  raftSendQueueMessagesMax: number;
  raftSendQueueBytesMax: number;
  rpcInflightRequestsMax: number;
  rpcSendQueueBytesMax: number;
  rpcWriteSliceBytes: number;
  rpcServingRequestsMax: number;
  rpcTimeoutMsDefault: number;
  inboundConnectionsMax: number;
  reconnectDelayMsMin: number;
  reconnectDelayMsMax: number;
  connectTimeoutMs: number;
  helloTimeoutMs: number;
}

export interface TlsTransportStats {
  raftFramesSent: number;
  raftFramesReceived: number;
  /** Raft messages dropped: queue overflow, oversized, unknown peer, or lost with a failed connection. */
  raftDropped: number;
  rpcRequestsSent: number;
  rpcRequestsServed: number;
  /** Inbound TLS handshakes that failed (no certificate, another CA, expired, not TLS at all). */
  handshakesRefused: number;
  /** Inbound connections whose certificate does not name the node they claim, or a non-member. */
  identitiesRefused: number;
  /** Inbound connections closed for a bad frame. */
  protocolErrors: number;
}

/** What a link needs from its transport. */
export interface LinkHost {
  readonly identity: NodeIdentity;
  readonly lim: TlsTransportLimits;
  readonly stats: TlsTransportStats;
  unreachable(peer: NodeId): void;
  warn(fields: Record<string, unknown>, msg: string): void;
}

/** Backoff between connection attempts: doubles per failure, reset by a success. */
class Backoff {
  private delay: number;
  private readonly min: number;
  private readonly max: number;
  constructor(min: number, max: number) {
    this.min = this.delay = min;
    this.max = max;
  }
  next(): number {
    const d = this.delay;
    this.delay = Math.min(this.delay * 2, this.max);
    return d;
  }
  reset(): void {
    this.delay = this.min;
  }
}

/**
 * Frames onto one socket, whole and in order, at most `sliceBytes` per event-loop turn, pausing
 * while the socket is backed up. `backlog()` counts what is queued here and in the socket.
 */
export class SlicedWriter {
  private readonly s: tls.TLSSocket;
  private readonly sliceBytes: number;
  private pieces: Uint8Array[] = [];
  private queuedBytes = 0;
  private scheduled = false;

  constructor(s: tls.TLSSocket, sliceBytes: number) {
    this.s = s;
    this.sliceBytes = sliceBytes;
    s.on('drain', () => this.pump());
  }

  backlog(): number {
    return this.queuedBytes + this.s.writableLength;
  }

  frame(body: Uint8Array): void {
    const header = Buffer.allocUnsafe(frameHeaderBytes);
    header.writeUInt32BE(body.byteLength, 0);
    if (this.pieces.length === 0 && body.byteLength <= this.sliceBytes && !this.s.writableNeedDrain && !this.s.destroyed) {
      // Nothing ahead of it and small: out now, no extra turn of latency.
      this.s.cork();
      this.s.write(header);
      this.s.write(body);
      this.s.uncork();
      return;
    }
    this.pieces.push(header, body);
    this.queuedBytes += frameHeaderBytes + body.byteLength;
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const s = this.s;
    if (s.destroyed) {
      this.pieces = [];
      this.queuedBytes = 0;
      return;
    }
    let budget = this.sliceBytes;
    s.cork();
    while (this.pieces.length > 0 && budget > 0 && !s.writableNeedDrain) {
      const p = this.pieces[0]!;
      const n = Math.min(p.byteLength, budget);
      s.write(n === p.byteLength ? p : p.subarray(0, n));
      if (n === p.byteLength) this.pieces.shift();
      else this.pieces[0] = p.subarray(n);
      this.queuedBytes -= n;
      budget -= n;
    }
    s.uncork();
    // Yield to timers and other sockets before the next slice; 'drain' resumes a backed-up socket.
    if (this.pieces.length > 0 && !s.writableNeedDrain) this.schedule();
  }
}

/**
 * Raft messages to one peer. Queued frames go out in one write per event-loop turn. When the
 * connection fails, what was queued is dropped and the peer reported unreachable (Raft resends).
 */
export class RaftLink {
  private readonly h: LinkHost;
  private readonly peer: NodeId;
  private readonly addr: PeerAddress;
  private readonly backoff: Backoff;
  private queue: Uint8Array[] = [];
  private queueBytes = 0;
  private socket: tls.TLSSocket | undefined;
  private dialing = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private flushScheduled = false;
  private failing = false;
  private closed = false;

  constructor(h: LinkHost, peer: NodeId, addr: PeerAddress) {
    this.h = h;
    this.peer = peer;
    this.addr = addr;
    this.backoff = new Backoff(h.lim.reconnectDelayMsMin, h.lim.reconnectDelayMsMax);
  }

  enqueue(m: Message): void {
    const body = encodeMessage(m);
    const lim = this.h.lim;
    if (body.byteLength > lim.raftFrameBytesMax) {
      this.h.stats.raftDropped++;
      this.h.warn({ event: 'frameTooLarge', peer: this.peer, type: m.type, bytes: body.byteLength }, 'raft message larger than the frame limit dropped');
      this.h.unreachable(this.peer);
      return;
    }
    let overflow = false;
    while (this.queue.length > 0 && (this.queue.length >= lim.raftSendQueueMessagesMax || this.queueBytes + body.byteLength > lim.raftSendQueueBytesMax)) {
      this.queueBytes -= this.queue.shift()!.byteLength;
      this.h.stats.raftDropped++;
      overflow = true;
    }
    this.queue.push(body);
    this.queueBytes += body.byteLength;
    if (overflow) this.h.unreachable(this.peer);
    if (this.socket !== undefined) this.scheduleFlush();
    else if (!this.dialing && this.retryTimer === undefined) this.connect();
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.socket?.destroy();
    this.dropQueue();
  }

  private dropQueue(): void {
    this.h.stats.raftDropped += this.queue.length;
    this.queue = [];
    this.queueBytes = 0;
  }

  private connect(): void {
    this.retryTimer = undefined;
    if (this.closed) return;
    this.dialing = true;
    dial(this.h.identity, this.peer, this.addr, 'raft', this.h.lim.connectTimeoutMs).then(
      (s) => this.opened(s),
      (e: Error) => {
        this.dialing = false;
        if (!this.failing) this.h.warn({ event: 'peerUnreachable', peer: this.peer, err: e.message }, 'raft connection failed');
        this.failing = true;
        this.lost();
      },
    );
  }

  private opened(s: tls.TLSSocket): void {
    this.dialing = false;
    if (this.closed) return void s.destroy();
    this.socket = s;
    this.backoff.reset();
    if (this.failing) this.h.warn({ event: 'peerReachable', peer: this.peer }, 'raft peer reachable again');
    this.failing = false;
    s.on('drain', () => this.flush());
    s.on('data', () => {}); // peers never answer on a raft link
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = undefined;
      this.lost();
    });
    this.flush();
  }

  private lost(): void {
    if (this.closed) return;
    this.dropQueue();
    this.h.unreachable(this.peer);
    // Keep trying while there is traffic: Raft sends heartbeats, so an idle link to a live leader is rare.
    this.retryTimer = setTimeout(() => this.connect(), this.backoff.next());
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
    const n = this.queue.length;
    if (s === undefined || n === 0 || s.writableNeedDrain) return;
    const out = Buffer.allocUnsafe(this.queueBytes + n * frameHeaderBytes);
    let at = 0;
    for (const body of this.queue) {
      out.writeUInt32BE(body.byteLength, at);
      out.set(body, at + frameHeaderBytes);
      at += frameHeaderBytes + body.byteLength;
    }
    this.queue = [];
    this.queueBytes = 0;
    this.h.stats.raftFramesSent += n;
    s.write(out);
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: PeerError): void;
}

/**
 * Requests to one peer over one connection, answered out of order by id. Dialled on demand; while
 * a failed peer's backoff runs, requests fail at once (UNREACHABLE) so callers can try another copy.
 */
export class RpcLink {
  private readonly h: LinkHost;
  private readonly peer: NodeId;
  private readonly addr: PeerAddress;
  private readonly backoff: Backoff;
  private socket: tls.TLSSocket | undefined;
  private writer: SlicedWriter | undefined;
  private dialing: Promise<tls.TLSSocket> | undefined;
  private retryAt = 0;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(h: LinkHost, peer: NodeId, addr: PeerAddress) {
    this.h = h;
    this.peer = peer;
    this.addr = addr;
    this.backoff = new Backoff(h.lim.reconnectDelayMsMin, h.lim.reconnectDelayMsMax);
  }

  async request(service: string, body: unknown, o: PeerRequestOptions): Promise<unknown> {
    if (o.signal?.aborted) throw new PeerError('ABORTED', `${service} to ${this.peer} aborted`);
    if (this.pending.size >= this.h.lim.rpcInflightRequestsMax) throw new PeerError('UNREACHABLE', `${this.peer}: ${this.pending.size} requests in flight`);
    const id = this.nextId++;
    const encoded = encodeRpc({ kind: 'request', id, service, body });
    if (encoded.byteLength > this.h.lim.rpcFrameBytesMax) {
      throw new PeerError('TOO_LARGE', `${service} request of ${encoded.byteLength} bytes > limit ${this.h.lim.rpcFrameBytesMax}`);
    }
    const timeoutMs = o.timeoutMs ?? this.h.lim.rpcTimeoutMsDefault;
    return new Promise<unknown>((resolve, reject) => {
      let sent: tls.TLSSocket | undefined;
      const done = (): void => {
        clearTimeout(timer);
        o.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
      };
      const giveUp = (e: PeerError): void => {
        if (!this.pending.has(id)) return;
        done();
        if (sent !== undefined && sent === this.socket) this.writer!.frame(encodeRpc({ kind: 'cancel', id }));
        reject(e);
      };
      const timer = setTimeout(() => giveUp(new PeerError('TIMEOUT', `${service} on ${this.peer} timed out after ${timeoutMs} ms`)), timeoutMs);
      const onAbort = (): void => giveUp(new PeerError('ABORTED', `${service} to ${this.peer} aborted`));
      o.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        resolve: (v) => (done(), resolve(v)),
        reject: (e) => (done(), reject(e)),
      });
      this.connection().then(
        (s) => {
          if (!this.pending.has(id)) return;
          const w = this.writer!;
          if (w.backlog() + encoded.byteLength > this.h.lim.rpcSendQueueBytesMax) {
            return this.pending.get(id)!.reject(new PeerError('UNREACHABLE', `${this.peer}: send queue full`));
          }
          sent = s;
          w.frame(encoded);
          this.h.stats.rpcRequestsSent++;
        },
        (e: PeerError) => this.pending.get(id)?.reject(e),
      );
    });
  }

  close(): void {
    this.closed = true;
    this.socket?.destroy();
    this.failAll(new PeerError('ABORTED', 'the transport is closed'));
  }

  private connection(): Promise<tls.TLSSocket> {
    if (this.closed) return Promise.reject(new PeerError('ABORTED', 'the transport is closed'));
    if (this.socket !== undefined) return Promise.resolve(this.socket);
    if (this.dialing !== undefined) return this.dialing;
    if (Date.now() < this.retryAt) return Promise.reject(new PeerError('UNREACHABLE', `${this.peer} is unreachable (retrying)`));
    this.dialing = dial(this.h.identity, this.peer, this.addr, 'rpc', this.h.lim.connectTimeoutMs).then(
      (s) => this.opened(s),
      (e: Error) => {
        this.dialing = undefined;
        this.retryAt = Date.now() + this.backoff.next();
        throw new PeerError('UNREACHABLE', e.message, { cause: e });
      },
    );
    return this.dialing;
  }

  private opened(s: tls.TLSSocket): tls.TLSSocket {
    this.dialing = undefined;
    if (this.closed) {
      s.destroy();
      throw new PeerError('ABORTED', 'the transport is closed');
    }
    this.socket = s;
    this.writer = new SlicedWriter(s, this.h.lim.rpcWriteSliceBytes);
    this.backoff.reset();
    const reader = new FrameReader(this.h.lim.rpcFrameBytesMax);
    s.on('data', (chunk: Buffer) => {
      try {
        for (const body of reader.push(chunk)) this.answer(decodeRpc(body));
      } catch (e) {
        this.h.stats.protocolErrors++;
        this.h.warn({ event: 'peerProtocolError', peer: this.peer, err: (e as Error).message }, 'bad answer frame: closing the rpc connection');
        s.destroy();
      }
    });
    s.on('close', () => {
      if (this.socket !== s) return;
      this.socket = undefined;
      this.retryAt = Date.now() + this.backoff.next();
      this.failAll(new PeerError('UNREACHABLE', `connection to ${this.peer} lost`));
      if (!this.closed) this.h.unreachable(this.peer);
    });
    return s;
  }

  private answer(f: RpcFrame): void {
    if (f.kind === 'request' || f.kind === 'cancel') throw new WireError(`a ${f.kind} frame on our outbound rpc link`);
    const p = this.pending.get(f.id);
    if (p === undefined) return; // timed out or aborted meanwhile
    if (f.kind === 'answer') p.resolve(f.value);
    else p.reject(new PeerError(f.code, f.message, f.remoteCode === undefined ? {} : { remoteCode: f.remoteCode }));
  }

  private failAll(e: PeerError): void {
    for (const p of [...this.pending.values()]) p.reject(e);
  }
}
