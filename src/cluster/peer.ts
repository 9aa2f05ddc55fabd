// Request/response between cluster nodes: the data plane for blob copies, forwarded writes and
// state transfer. The contract only, plus an in-process network for unit tests; no sockets here.

import type { NodeId } from '../raft/index.ts';

export type PeerErrorCode =
  /** No connection to the peer (refused, lost, not a member, certificate refused). */
  | 'UNREACHABLE'
  /** No answer within the request's deadline. */
  | 'TIMEOUT'
  /** The request or its answer is larger than the frame limit. */
  | 'TOO_LARGE'
  /** Nobody serves that service on the peer. */
  | 'NO_SERVICE'
  /** The peer's handler threw; `remoteCode` carries its own error code when it had one. */
  | 'REMOTE'
  /** The caller aborted, or the local endpoint is closed. */
  | 'ABORTED';

export class PeerError extends Error {
  readonly code: PeerErrorCode;
  readonly remoteCode: string | undefined;
  constructor(code: PeerErrorCode, message: string, o: { cause?: unknown; remoteCode?: string } = {}) {
    super(message, { cause: o.cause });
    this.name = 'PeerError';
    this.code = code;
    this.remoteCode = o.remoteCode;
  }
}

export interface PeerRequestOptions {
  /** Deadline of the whole exchange, ms. Implementations have a default. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Requests to other members, answered by the handler each peer serves under a service name
 * ('blob.put', 'store.forward', 'store.snapshot-chunk', ...). Bodies and answers are plain
 * MessagePack-encodable data (Uint8Array travels as bin). Over the network (the mutual-TLS
 * transport) only members holding a certificate of the cluster's CA are served.
 */
export interface PeerRpc {
  readonly self: NodeId;
  /** Resolves with the peer handler's answer; rejects with PeerError. */
  request(peer: NodeId, service: string, body: unknown, o?: PeerRequestOptions): Promise<unknown>;
  /**
   * Serve `service`. The handler's result is the answer; a thrown error reaches the caller as
   * PeerError('REMOTE') with the error's `code` property as `remoteCode`. One handler per service.
   */
  serve(service: string, handler: (from: NodeId, body: unknown, signal: AbortSignal) => Promise<unknown>): void;
}

type Handler = (from: NodeId, body: unknown, signal: AbortSignal) => Promise<unknown>;

/**
 * Endpoints in one process that answer each other, with links that can be cut, for unit tests of
 * code built on PeerRpc. Bodies are structured-cloned, so nothing is shared by reference.
 */
export class MemoryPeerNetwork {
  private readonly handlers = new Map<NodeId, Map<string, Handler>>();
  private readonly cut = new Set<string>();

  endpoint(self: NodeId): PeerRpc {
    const services = new Map<string, Handler>();
    this.handlers.set(self, services);
    return {
      self,
      request: (peer, service, body, o) => this.request(self, peer, service, body, o),
      serve: (service, handler) => {
        services.set(service, handler);
      },
    };
  }

  /** Cut (or with `false` restore) both directions between two nodes. */
  setLink(a: NodeId, b: NodeId, up: boolean): void {
    for (const k of [`${a}\u0000${b}`, `${b}\u0000${a}`]) {
      if (up) this.cut.delete(k);
      else this.cut.add(k);
    }
  }

  /** A stopped node: every request to it is UNREACHABLE until it gets a new endpoint. */
  remove(id: NodeId): void {
    this.handlers.delete(id);
  }

  private async request(from: NodeId, to: NodeId, service: string, body: unknown, o: PeerRequestOptions = {}): Promise<unknown> {
    const services = this.handlers.get(to);
    if (services === undefined || this.cut.has(`${from}\u0000${to}`)) throw new PeerError('UNREACHABLE', `${to} is unreachable from ${from}`);
    const handler = services.get(service);
    if (handler === undefined) throw new PeerError('NO_SERVICE', `${to} does not serve ${service}`);
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    o.signal?.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = handler(from, structuredClone(body), ac.signal).catch((e: unknown) => {
        throw new PeerError('REMOTE', e instanceof Error ? e.message : String(e), { remoteCode: (e as { code?: string }).code });
      });
      const limits: Promise<never>[] = [];
      if (o.timeoutMs !== undefined) {
        limits.push(new Promise((_, reject) => (timer = setTimeout(() => reject(new PeerError('TIMEOUT', `${service} on ${to} timed out`)), o.timeoutMs))));
      }
      if (o.signal) limits.push(new Promise((_, reject) => ac.signal.addEventListener('abort', () => reject(new PeerError('ABORTED', 'aborted')), { once: true })));
      return structuredClone(await Promise.race([answer, ...limits]));
    } finally {
      if (timer) clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    }
  }
}
