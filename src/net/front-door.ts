// Admits a front end's connections: listeners, connection counts, PROXY header, per-address limits, implicit TLS.
// Must not speak any protocol (refusal octets, errors and sessions come from the caller); no client input may throw out.

import { randomBytes } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import type { ListenAddress, ResolvedConnectionLimits, ResolvedFrontDoor } from './config.ts';
import { canonicalIp, ipLimitKey, unmapIPv4 } from './ip-address.ts';
import { AuthFailureTracker, ConnectionCounter } from './limiters.ts';
import { type Logger, errorFields, scopedLogger, silentLogger } from './logger.ts';
import { LoginLimit } from './login-limit.ts';
import { readProxyHeader } from './proxy-reader.ts';
import { type Timers, realTimers } from './timers.ts';
import { upgradeToTls } from './tls-upgrade.ts';

export type ListenerKind = 'plain' | 'implicitTls';

/** What a protocol session must offer the front door. */
export interface FrontDoorSession {
  /** Runs the session to its end; never rejects. */
  run(): Promise<void>;
  /** Server shutdown: close now, in the protocol's way. */
  shutdown(): void;
}

/** A connection admitted past every limit, ready for the protocol's greeting. */
export interface AdmittedConnection {
  readonly cid: string;
  /** The client's address: the PROXY header's source when there is one, else the socket peer. */
  readonly clientIp: string;
  /** TCP, or TLS for implicit-TLS listeners; the session owns it from now on. */
  readonly socket: net.Socket;
  readonly secure: boolean;
  /** Already scoped with subsystem, cid and ip. */
  readonly log: Logger;
  /** This connection's login limits, over the server-wide per-address failure tracker. */
  readonly logins: LoginLimit;
}

/** Octets written before closing a refused plain connection (the protocol's own "try later" reply). */
export interface Refusals {
  readonly shuttingDown: string | Uint8Array;
  readonly tooManyConnections: string | Uint8Array;
  readonly tooManyConnectionsFromAddress: string | Uint8Array;
}

export interface FrontDoorOptions<S extends FrontDoorSession> {
  /** Log subsystem, e.g. 'pop3'. */
  readonly subsystem: string;
  /** Protocol name in the 'listening' log line, e.g. 'POP3'. */
  readonly protocol: string;
  readonly config: ResolvedFrontDoor & ResolvedConnectionLimits;
  readonly refusals: Refusals;
  /** After our FIN on a refusal, how long to wait for the client's before closing hard. */
  readonly closeLingerMs: number;
  /** The protocol's typed error for a configuration or listener failure. */
  readonly error: (code: 'CONFIG_INVALID' | 'LISTEN_FAILED', message: string, cause: unknown) => Error;
  readonly newSession: (c: AdmittedConnection) => S;
  /** pino or anything with info/warn/error(obj, msg). Default: silent. */
  readonly logger?: Logger | undefined;
  /** Clock and timers; tests inject their own to drive timeouts. */
  readonly timers?: Timers | undefined;
  /** Connection ids for logs; default 12 random hex digits. */
  readonly newConnectionId?: (() => string) | undefined;
}

interface LiveConnection<S> {
  readonly raw: net.Socket;
  session: S | undefined;
}

export class FrontDoor<S extends FrontDoorSession> {
  readonly secureContext: tls.SecureContext | undefined;
  private readonly authFailures: AuthFailureTracker;
  readonly logger: Logger;
  readonly timers: Timers;
  private readonly o: FrontDoorOptions<S>;
  private readonly newConnectionId: () => string;
  private readonly counter = new ConnectionCounter();
  private readonly listeners = new Map<ListenerKind, net.Server>();
  private readonly live = new Map<LiveConnection<S>, Promise<void>>();
  private closing = false;

  constructor(o: FrontDoorOptions<S>) {
    this.o = o;
    this.logger = o.logger ?? silentLogger;
    this.timers = o.timers ?? realTimers;
    this.newConnectionId = o.newConnectionId ?? (() => randomBytes(6).toString('hex'));
    try {
      this.secureContext = o.config.tls === undefined ? undefined : tls.createSecureContext(o.config.tls);
    } catch (e) {
      throw o.error('CONFIG_INVALID', 'tls options do not make a secure context', e);
    }
    this.authFailures = new AuthFailureTracker(
      { failuresMax: o.config.authFailuresPerIpMax, windowMs: o.config.authFailureWindowMs },
      () => this.timers.now(),
    );
  }

  /** Open connections right now (all listeners). */
  get connectionCount(): number {
    return this.counter.total;
  }

  /** Connections being admitted or in session. */
  get liveCount(): number {
    return this.live.size;
  }

  get closed(): boolean {
    return this.closing;
  }

  get listening(): boolean {
    return this.listeners.size > 0;
  }

  /** Sessions started so far and not yet torn down. */
  sessions(): S[] {
    return [...this.live.keys()].flatMap((c) => (c.session === undefined ? [] : [c.session]));
  }

  bind(kind: ListenerKind, at: ListenAddress): Promise<net.AddressInfo> {
    const { subsystem, protocol } = this.o;
    // allowHalfOpen: a client may send its last commands and FIN at once (a script piping into the socket);
    // it still gets every reply, and teardown ends our side.
    const server = net.createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (socket) => this.accept(kind, socket));
    this.listeners.set(kind, server);
    return new Promise((resolve, reject) => {
      server.once('error', (e) => reject(this.o.error('LISTEN_FAILED', `${kind} listener on ${at.host}:${at.port}`, e)));
      server.listen(at.port, at.host, () => {
        server.on('error', (e) => this.logger.error({ subsystem, event: 'listener-error', listener: kind, ...errorFields(e) }, 'listener error'));
        const address = server.address() as net.AddressInfo;
        this.logger.info({ subsystem, event: 'listening', listener: kind, host: address.address, port: address.port }, `${protocol} listening`);
        resolve(address);
      });
    });
  }

  /** Stops listening and shuts every session down; resolves when all have torn down. */
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
    const { subsystem, config, refusals } = this.o;
    raw.on('error', () => {}); // each stage adds its own handling; none may leave an error unhandled
    const cid = this.newConnectionId();
    const peerIp = canonicalIp(raw.remoteAddress ?? 'unknown');
    if (this.closing) return this.refuse(kind, raw, refusals.shuttingDown);
    if (this.counter.total >= config.connectionsMax) {
      this.logger.warn({ subsystem, event: 'refused', cid, ip: peerIp, reason: 'connections-max', open: this.counter.total }, 'connection refused: server full');
      return this.refuse(kind, raw, refusals.tooManyConnections);
    }
    this.counter.openTotal();
    const entry: LiveConnection<S> = { raw, session: undefined };
    const done = this.admit(kind, raw, cid, peerIp, entry)
      .catch((e: unknown) => {
        this.logger.error({ subsystem, event: 'internal-error', cid, ...errorFields(e) }, 'connection failed');
        raw.destroy();
      })
      .finally(() => {
        this.counter.closeTotal();
        this.live.delete(entry);
      });
    this.live.set(entry, done);
  }

  /** PROXY header, per-address limit, then the session. */
  private async admit(kind: ListenerKind, raw: net.Socket, cid: string, peerIp: string, entry: LiveConnection<S>): Promise<void> {
    const { config } = this.o;
    let clientIp = peerIp;
    const base = { subsystem: this.o.subsystem, cid, listener: kind };
    if (config.proxyProtocol === 'required' && (config.trustedProxies?.has(unmapIPv4(peerIp)) ?? true)) {
      const proxied = await readProxyHeader(raw, config.proxyHeaderTimeoutMs, this.timers);
      if (!proxied.ok) {
        this.logger.warn({ ...base, event: 'proxy-header-invalid', peer: peerIp, reason: proxied.reason }, 'PROXY header missing or invalid: closing');
        raw.destroy();
        return;
      }
      if (proxied.header.kind === 'proxied') clientIp = canonicalIp(proxied.header.source.address);
    }
    const key = ipLimitKey(clientIp);
    if (this.counter.countFor(key) >= config.connectionsPerIpMax) {
      this.logger.warn({ ...base, event: 'refused', ip: clientIp, reason: 'connections-per-ip-max' }, 'connection refused: too many from this address');
      return this.refuse(kind, raw, this.o.refusals.tooManyConnectionsFromAddress);
    }
    this.counter.openFor(key);
    try {
      await this.startSession(kind, raw, cid, clientIp, peerIp, entry);
    } finally {
      this.counter.closeFor(key);
    }
  }

  /** TLS for implicit-TLS listeners, then the protocol's session until it ends. */
  private async startSession(kind: ListenerKind, raw: net.Socket, cid: string, clientIp: string, peerIp: string, entry: LiveConnection<S>): Promise<void> {
    const log = scopedLogger(this.logger, { subsystem: this.o.subsystem, cid, ip: clientIp });
    const secure = kind === 'implicitTls';
    let socket: net.Socket = raw;
    if (secure) {
      if (this.secureContext === undefined) throw new Error(`${this.o.subsystem}: implicit TLS listener without a secure context`);
      const upgraded = await upgradeToTls(raw, this.secureContext, this.o.config.tlsHandshakeTimeoutMs, this.timers);
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
    log.info({ event: 'connect', listener: kind, peer: peerIp, secure }, 'connection accepted');
    const logins = new LoginLimit({
      clientIp,
      tracker: this.authFailures,
      timers: this.timers,
      failureDelayMs: this.o.config.authFailureDelayMs,
      failuresPerConnectionMax: this.o.config.authFailuresPerConnectionMax,
    });
    const session = this.o.newSession({ cid, clientIp, socket, secure, log, logins });
    entry.session = session;
    await session.run();
  }

  /** Plain listeners get the protocol's "try later"; on implicit TLS nothing can be said before a handshake. */
  private refuse(kind: ListenerKind, raw: net.Socket, octets: string | Uint8Array): void {
    if (kind === 'implicitTls') {
      raw.destroy();
      return;
    }
    raw.end(octets);
    raw.resume();
    this.timers.setTimeout(() => raw.destroy(), this.o.closeLingerMs);
  }
}
