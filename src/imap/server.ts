// The IMAP network side: plain (143-style, with STARTTLS) and implicit-TLS (993-style) listeners, the PROXY
// header, connection limits, the change feed routed to sessions, and one ImapConnection per client.
// Must not parse IMAP itself (connection.ts and commands/ do); no client input may throw out of here.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { Blobs } from '../blob/index.ts';
import { AuthFailureTracker, ConnectionCounter } from '../pop3/limiters.ts';
import { type Pop3Logger as Logger, errorFields, scopedLogger, silentLogger } from '../pop3/logger.ts';
import { canonicalIp, ipLimitKey } from '../pop3/proto/ip-address.ts';
import { readProxyHeader } from '../pop3/proxy-reader.ts';
import { type Pop3Timers as Timers, realTimers } from '../pop3/timers.ts';
import { upgradeToTls } from '../pop3/tls-upgrade.ts';
import type { Store } from '../store/index.ts';
import { type ImapListenAddress, type ImapServerConfig, type ResolvedImapConfig, resolveImapConfig, unmapIPv4 } from './config.ts';
import { ImapConnection } from './connection.ts';
import { ImapError } from './errors.ts';
import type { ImapHooks } from './hooks.ts';
import { imapCloseLingerMs } from './limits.ts';
import { SessionRegistry } from './registry.ts';

export interface ImapServerOptions {
  readonly config: ImapServerConfig;
  readonly store: Store;
  readonly blobs: Blobs;
  readonly hooks?: ImapHooks;
  /** pino or anything with info/warn/error(obj, msg). Default: silent. */
  readonly logger?: Logger;
  readonly timers?: Timers;
  readonly newConnectionId?: () => string;
}

export type ListenerKind = 'plain' | 'implicitTls';

export interface ImapServerAddresses {
  readonly plain?: net.AddressInfo;
  readonly implicitTls?: net.AddressInfo;
}

interface LiveConnection {
  readonly raw: net.Socket;
  session: ImapConnection | undefined;
}

export class ImapServer {
  readonly config: ResolvedImapConfig;
  private readonly store: Store;
  private readonly blobs: Blobs;
  private readonly hooks: ImapHooks;
  private readonly logger: Logger;
  private readonly timers: Timers;
  private readonly newConnectionId: () => string;
  private readonly secureContext: tls.SecureContext | undefined;
  private readonly counter = new ConnectionCounter();
  private readonly authFailures: AuthFailureTracker;
  private readonly registry = new SessionRegistry();
  private readonly listeners = new Map<ListenerKind, net.Server>();
  private readonly live = new Map<LiveConnection, Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private closing = false;

  constructor(o: ImapServerOptions) {
    this.config = resolveImapConfig(o.config);
    this.store = o.store;
    this.blobs = o.blobs;
    this.hooks = o.hooks ?? {};
    this.logger = o.logger ?? silentLogger;
    this.timers = o.timers ?? realTimers;
    this.newConnectionId = o.newConnectionId ?? (() => randomBytes(6).toString('hex'));
    try {
      this.secureContext = this.config.tls === undefined ? undefined : tls.createSecureContext(this.config.tls);
    } catch (e) {
      throw new ImapError('CONFIG_INVALID', 'tls options do not make a secure context', { cause: e });
    }
    this.authFailures = new AuthFailureTracker(
      { failuresMax: this.config.authFailuresPerIpMax, windowMs: this.config.authFailureWindowMs },
      () => this.timers.now(),
    );
  }

  get connectionCount(): number {
    return this.counter.total;
  }

  async listen(): Promise<ImapServerAddresses> {
    if (this.closing) throw new ImapError('NOT_LISTENING', 'server already closed');
    if (this.listeners.size > 0) throw new ImapError('LISTEN_FAILED', 'listen() called twice');
    const offChanges = this.store.onChanges((changes) => this.registry.dispatch(changes));
    // A snapshot installed from a peer replaces the whole state without per-folder changes: sessions'
    // views cannot be brought up to date, so they end with BYE and their clients resynchronize.
    const offRestored = this.store.onRestored(() => {
      this.logger.warn({ subsystem: 'imap', event: 'state-restored', sessions: this.live.size }, 'store state replaced from a snapshot: closing sessions');
      for (const c of this.live.keys()) c.session?.shutdown();
    });
    this.unsubscribe = () => {
      offChanges();
      offRestored();
    };
    const out: { plain?: net.AddressInfo; implicitTls?: net.AddressInfo } = {};
    if (this.config.plain !== undefined) out.plain = await this.bind('plain', this.config.plain);
    if (this.config.implicitTls !== undefined) out.implicitTls = await this.bind('implicitTls', this.config.implicitTls);
    return out;
  }

  private bind(kind: ListenerKind, at: ImapListenAddress): Promise<net.AddressInfo> {
    const server = net.createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (socket) => this.accept(kind, socket));
    this.listeners.set(kind, server);
    return new Promise((resolve, reject) => {
      server.once('error', (e) => reject(new ImapError('LISTEN_FAILED', `${kind} listener on ${at.host}:${at.port}`, { cause: e })));
      server.listen(at.port, at.host, () => {
        server.on('error', (e) => this.logger.error({ subsystem: 'imap', event: 'listener-error', listener: kind, ...errorFields(e) }, 'listener error'));
        const address = server.address() as net.AddressInfo;
        this.logger.info({ subsystem: 'imap', event: 'listening', listener: kind, host: address.address, port: address.port }, 'IMAP listening');
        resolve(address);
      });
    });
  }

  /** Stops listening and closes every session with `* BYE`; resolves when all have torn down. */
  async close(): Promise<void> {
    this.closing = true;
    this.unsubscribe?.();
    const stopped = [...this.listeners.values()].map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    for (const c of this.live.keys()) {
      if (c.session !== undefined) c.session.shutdown();
      else c.raw.destroy();
    }
    await Promise.all([...stopped, ...this.live.values()]);
  }

  private accept(kind: ListenerKind, raw: net.Socket): void {
    raw.on('error', () => {});
    const cid = this.newConnectionId();
    const peerIp = canonicalIp(raw.remoteAddress ?? 'unknown');
    if (this.closing) return this.refuse(kind, raw, '* BYE Server shutting down\r\n');
    if (this.counter.total >= this.config.connectionsMax) {
      this.logger.warn({ subsystem: 'imap', event: 'refused', cid, ip: peerIp, reason: 'connections-max' }, 'connection refused: server full');
      return this.refuse(kind, raw, '* BYE [UNAVAILABLE] Too many connections\r\n');
    }
    this.counter.openTotal();
    const entry: LiveConnection = { raw, session: undefined };
    const done = this.admit(kind, raw, cid, peerIp, entry)
      .catch((e: unknown) => {
        this.logger.error({ subsystem: 'imap', event: 'internal-error', cid, ...errorFields(e) }, 'connection failed');
        raw.destroy();
      })
      .finally(() => {
        this.counter.closeTotal();
        this.live.delete(entry);
      });
    this.live.set(entry, done);
  }

  private async admit(kind: ListenerKind, raw: net.Socket, cid: string, peerIp: string, entry: LiveConnection): Promise<void> {
    let clientIp = peerIp;
    if (this.config.proxyProtocol === 'required' && (this.config.trustedProxies?.has(unmapIPv4(peerIp)) ?? true)) {
      const proxied = await readProxyHeader(raw, this.config.proxyHeaderTimeoutMs, this.timers);
      if (!proxied.ok) {
        this.logger.warn({ subsystem: 'imap', cid, event: 'proxy-header-invalid', peer: peerIp, reason: proxied.reason }, 'PROXY header missing or invalid: closing');
        raw.destroy();
        return;
      }
      if (proxied.header.kind === 'proxied') clientIp = canonicalIp(proxied.header.source.address);
    }
    const key = ipLimitKey(clientIp);
    if (this.counter.countFor(key) >= this.config.connectionsPerIpMax) {
      this.logger.warn({ subsystem: 'imap', cid, event: 'refused', ip: clientIp, reason: 'connections-per-ip-max' }, 'connection refused: too many from this address');
      return this.refuse(kind, raw, '* BYE [UNAVAILABLE] Too many connections from your address\r\n');
    }
    this.counter.openFor(key);
    try {
      await this.startSession(kind, raw, cid, clientIp, peerIp, entry);
    } finally {
      this.counter.closeFor(key);
    }
  }

  private async startSession(kind: ListenerKind, raw: net.Socket, cid: string, clientIp: string, peerIp: string, entry: LiveConnection): Promise<void> {
    const log = scopedLogger(this.logger, { subsystem: 'imap', cid, ip: clientIp });
    let socket: net.Socket = raw;
    if (kind === 'implicitTls') {
      if (this.secureContext === undefined) throw new Error('imap: implicit TLS listener without a secure context');
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
    const session = new ImapConnection({
      cid,
      clientIp,
      socket,
      secure: kind === 'implicitTls',
      config: this.config,
      secureContext: this.secureContext,
      store: this.store,
      blobs: this.blobs,
      hooks: this.hooks,
      log,
      timers: this.timers,
      authFailures: this.authFailures,
      registry: this.registry,
    });
    entry.session = session;
    await session.run();
  }

  private refuse(kind: ListenerKind, raw: net.Socket, line: string): void {
    if (kind === 'implicitTls') {
      raw.destroy();
      return;
    }
    raw.end(line);
    raw.resume();
    this.timers.setTimeout(() => raw.destroy(), imapCloseLingerMs);
  }
}
