// The POP3 network side: plain (110-style, with STLS) and implicit-TLS (995-style) listeners, the PROXY
// header, connection limits, and one Pop3Connection per client. Must not parse POP3 itself (connection.ts and
// commands/ do) nor know the store beyond Pop3Backend; no client input may throw out of here.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { Pop3Backend } from './backend.ts';
import { type Pop3ListenAddress, type Pop3ServerConfig, type ResolvedPop3Config, resolvePop3Config, unmapIPv4 } from './config.ts';
import { Pop3Connection } from './connection.ts';
import { Pop3Error } from './errors.ts';
import { AuthFailureTracker, ConnectionCounter } from './limiters.ts';
import { pop3CloseLingerMs } from './limits.ts';
import { type Pop3Logger, errorFields, scopedLogger, silentLogger } from './logger.ts';
import { canonicalIp, ipLimitKey } from './proto/ip-address.ts';
import * as replies from './proto/replies.ts';
import { type Reply, serializeReply } from './proto/reply.ts';
import { readProxyHeader } from './proxy-reader.ts';
import { type Pop3Timers, realTimers } from './timers.ts';
import { upgradeToTls } from './tls-upgrade.ts';

export interface Pop3ServerOptions {
  readonly config: Pop3ServerConfig;
  readonly backend: Pop3Backend;
  /** pino or anything with info/warn/error(obj, msg). Default: silent. */
  readonly logger?: Pop3Logger;
  /** Clock and timers; tests inject their own to drive idle timeouts. */
  readonly timers?: Pop3Timers;
  /** Connection ids for logs; default 12 random hex digits. */
  readonly newConnectionId?: () => string;
}

export type ListenerKind = 'plain' | 'implicitTls';

export interface Pop3ServerAddresses {
  readonly plain?: net.AddressInfo;
  readonly implicitTls?: net.AddressInfo;
}

interface LiveConnection {
  readonly raw: net.Socket;
  session: Pop3Connection | undefined;
}

export class Pop3Server {
  readonly config: ResolvedPop3Config;
  private readonly backend: Pop3Backend;
  private readonly logger: Pop3Logger;
  private readonly timers: Pop3Timers;
  private readonly newConnectionId: () => string;
  private readonly secureContext: tls.SecureContext | undefined;
  private readonly counter = new ConnectionCounter();
  private readonly authFailures: AuthFailureTracker;
  private readonly listeners = new Map<ListenerKind, net.Server>();
  private readonly live = new Map<LiveConnection, Promise<void>>();
  private closing = false;

  constructor(o: Pop3ServerOptions) {
    this.config = resolvePop3Config(o.config);
    this.backend = o.backend;
    this.logger = o.logger ?? silentLogger;
    this.timers = o.timers ?? realTimers;
    this.newConnectionId = o.newConnectionId ?? (() => randomBytes(6).toString('hex'));
    try {
      this.secureContext = this.config.tls === undefined ? undefined : tls.createSecureContext(this.config.tls);
    } catch (e) {
      throw new Pop3Error('CONFIG_INVALID', 'tls options do not make a secure context', { cause: e });
    }
    this.authFailures = new AuthFailureTracker(
      { failuresMax: this.config.authFailuresPerIpMax, windowMs: this.config.authFailureWindowMs },
      () => this.timers.now(),
    );
  }

  /** Open connections right now (all listeners). */
  get connectionCount(): number {
    return this.counter.total;
  }

  /** Binds the configured listeners; resolves with the bound addresses. */
  async listen(): Promise<Pop3ServerAddresses> {
    if (this.closing) throw new Pop3Error('NOT_LISTENING', 'server already closed');
    if (this.listeners.size > 0) throw new Pop3Error('LISTEN_FAILED', 'listen() called twice');
    const out: { plain?: net.AddressInfo; implicitTls?: net.AddressInfo } = {};
    if (this.config.plain !== undefined) out.plain = await this.bind('plain', this.config.plain);
    if (this.config.implicitTls !== undefined) out.implicitTls = await this.bind('implicitTls', this.config.implicitTls);
    return out;
  }

  private bind(kind: ListenerKind, at: Pop3ListenAddress): Promise<net.AddressInfo> {
    // allowHalfOpen: a client may send its last commands and FIN at once (a script piping into the socket);
    // it still gets every reply, and teardown ends our side.
    const server = net.createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (socket) => this.accept(kind, socket));
    this.listeners.set(kind, server);
    return new Promise((resolve, reject) => {
      server.once('error', (e) => reject(new Pop3Error('LISTEN_FAILED', `${kind} listener on ${at.host}:${at.port}`, { cause: e })));
      server.listen(at.port, at.host, () => {
        server.on('error', (e) => this.logger.error({ subsystem: 'pop3', event: 'listener-error', listener: kind, ...errorFields(e) }, 'listener error'));
        const address = server.address() as net.AddressInfo;
        this.logger.info({ subsystem: 'pop3', event: 'listening', listener: kind, host: address.address, port: address.port }, 'POP3 listening');
        resolve(address);
      });
    });
  }

  /** Stops listening and closes every session now, without UPDATE; resolves when all have torn down. */
  async close(): Promise<void> {
    this.closing = true;
    const stopped = [...this.listeners.values()].map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const c of this.live.keys()) {
      if (c.session !== undefined) c.session.shutdown();
      else c.raw.destroy();
    }
    await Promise.all([...stopped, ...this.live.values()]);
  }

  private accept(kind: ListenerKind, raw: net.Socket): void {
    raw.on('error', () => {}); // each stage adds its own handling; none may leave an error unhandled
    const cid = this.newConnectionId();
    const peerIp = canonicalIp(raw.remoteAddress ?? 'unknown');
    if (this.closing) {
      this.refuse(kind, raw, replies.shuttingDown);
      return;
    }
    if (this.counter.total >= this.config.connectionsMax) {
      this.logger.warn({ subsystem: 'pop3', event: 'refused', cid, ip: peerIp, reason: 'connections-max', open: this.counter.total }, 'connection refused: server full');
      this.refuse(kind, raw, replies.tooManyConnections);
      return;
    }
    this.counter.openTotal();
    const entry: LiveConnection = { raw, session: undefined };
    const done = this.admit(kind, raw, cid, peerIp, entry)
      .catch((e: unknown) => {
        this.logger.error({ subsystem: 'pop3', event: 'internal-error', cid, ...errorFields(e) }, 'connection failed');
        raw.destroy();
      })
      .finally(() => {
        this.counter.closeTotal();
        this.live.delete(entry);
      });
    this.live.set(entry, done);
  }

  /** PROXY header, per-address limit, TLS for implicit-TLS listeners, then the session. */
  private async admit(kind: ListenerKind, raw: net.Socket, cid: string, peerIp: string, entry: LiveConnection): Promise<void> {
    let clientIp = peerIp;
    const base = { subsystem: 'pop3', cid, listener: kind };
    if (this.config.proxyProtocol === 'required' && (this.config.trustedProxies?.has(unmapIPv4(peerIp)) ?? true)) {
      const proxied = await readProxyHeader(raw, this.config.proxyHeaderTimeoutMs, this.timers);
      if (!proxied.ok) {
        this.logger.warn({ ...base, event: 'proxy-header-invalid', peer: peerIp, reason: proxied.reason }, 'PROXY header missing or invalid: closing');
        raw.destroy();
        return;
      }
      if (proxied.header.kind === 'proxied') clientIp = canonicalIp(proxied.header.source.address);
    }
    const key = ipLimitKey(clientIp);
    if (this.counter.countFor(key) >= this.config.connectionsPerIpMax) {
      this.logger.warn({ ...base, event: 'refused', ip: clientIp, reason: 'connections-per-ip-max' }, 'connection refused: too many from this address');
      this.refuse(kind, raw, replies.tooManyConnectionsFromAddress);
      return;
    }
    this.counter.openFor(key);
    try {
      await this.startSession(kind, raw, cid, clientIp, peerIp, entry);
    } finally {
      this.counter.closeFor(key);
    }
  }

  private async startSession(kind: ListenerKind, raw: net.Socket, cid: string, clientIp: string, peerIp: string, entry: LiveConnection): Promise<void> {
    const log = scopedLogger(this.logger, { subsystem: 'pop3', cid, ip: clientIp });
    let socket: net.Socket = raw;
    if (kind === 'implicitTls') {
      if (this.secureContext === undefined) throw new Error('pop3: implicit TLS listener without a secure context');
      const upgraded = await upgradeToTls(raw, this.secureContext, this.config.tlsHandshakeTimeoutMs, this.timers);
      if (!upgraded.ok) {
        log.info({ event: 'tls-failed', reason: upgraded.reason }, 'TLS handshake failed');
        raw.destroy();
        return;
      }
      socket = upgraded.socket;
    }
    if (this.closing || raw.destroyed) {
      socket.destroy();
      return;
    }
    log.info({ event: 'connect', listener: kind, peer: peerIp, secure: kind === 'implicitTls' }, 'connection accepted');
    const session = new Pop3Connection({
      cid,
      clientIp,
      socket,
      secure: kind === 'implicitTls',
      config: this.config,
      secureContext: this.secureContext,
      backend: this.backend,
      log,
      timers: this.timers,
      authFailures: this.authFailures,
    });
    entry.session = session;
    await session.run();
  }

  /** Plain listeners get a reason (RFC 3206 [SYS/TEMP]); on implicit TLS nothing can be said before a handshake. */
  private refuse(kind: ListenerKind, raw: net.Socket, reply: Reply): void {
    if (kind === 'implicitTls') {
      raw.destroy();
      return;
    }
    raw.end(serializeReply(reply));
    raw.resume();
    this.timers.setTimeout(() => raw.destroy(), pop3CloseLingerMs);
  }
}
