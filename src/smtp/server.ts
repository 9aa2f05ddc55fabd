// The SMTP front end: builds the MX (25), submission (587) and submissions (465) listeners from a validated config.
// Binds protocol to policy and backend; it stores nothing itself and knows nothing of Raft or blobs.

import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { SMTPServerOptions } from 'smtp-server';
import { AuthFailureTracker, ByteBudget, ConnectionCounter } from './admission.ts';
import type { ListenerKind, SmtpBackend } from './backend.ts';
import { onAuth } from './commands/auth.ts';
import { listenerDisabledCommands, onClose, onConnect, onSecure } from './commands/connect.ts';
import { onData } from './commands/data.ts';
import { onMailFrom } from './commands/mail-from.ts';
import { onRcptTo } from './commands/rcpt-to.ts';
import { loadTls, validateSmtpConfig, type ResolvedListener, type ResolvedSmtpConfig, type SmtpConfig } from './config.ts';
import { GatedSmtpServer } from './connection.ts';
import type { SmtpPolicyHooks } from './hooks.ts';
import { silentLogger, type SmtpLogger } from './logger.ts';
import { replies, replyText } from './replies.ts';
import { systemClock, type Clock, type ListenerRuntime } from './runtime.ts';

export interface SmtpFrontEndDeps {
  readonly backend: SmtpBackend;
  /** pino or anything with its debug/info/warn/error(fields, msg). Default: silent. */
  readonly logger?: SmtpLogger | undefined;
  /** The washer's hooks; none by default. */
  readonly hooks?: SmtpPolicyHooks | undefined;
  /** Time for Received dates and AUTH failure windows. Default: the system clock. */
  readonly clock?: Clock | undefined;
  /** Message ids (DeliveryRequest.id). Default: 80 random bits in base 32 (16 characters). */
  readonly newId?: (() => string) | undefined;
}

export interface BoundListener {
  readonly kind: ListenerKind;
  readonly host: string;
  readonly port: number;
}

/** Lower-case RFC 4648 base32 without padding, so ids are case-insensitive and fit a header token. */
export function randomMessageId(): string {
  return BigInt(`0x${randomBytes(10).toString('hex')}`).toString(32).padStart(16, '0');
}

// RFC 8996 retires TLS 1.0 and 1.1; smtp-server would otherwise accept TLS 1.0.
const tlsMinVersion = 'TLSv1.2';

export class SmtpFrontEnd {
  readonly config: ResolvedSmtpConfig;
  private readonly deps: SmtpFrontEndDeps;
  private readonly shutdown = new AbortController();
  private servers: { kind: ListenerKind; server: GatedSmtpServer }[] = [];
  private bound: BoundListener[] = [];
  private state: 'new' | 'starting' | 'running' | 'stopped' = 'new';

  constructor(config: SmtpConfig, deps: SmtpFrontEndDeps) {
    this.config = validateSmtpConfig(config);
    this.deps = deps;
  }

  /** Starts every configured listener; resolves with where each one listens. */
  async start(): Promise<readonly BoundListener[]> {
    if (this.state !== 'new') throw new Error(`smtp: start() in state ${this.state}`);
    this.state = 'starting';
    const tls = this.config.tls === null ? null : await loadTls(this.config.tls);
    const shared = this.sharedRuntime();
    try {
      for (const l of this.config.listeners) {
        const rt: ListenerRuntime = { ...shared, listener: l.kind, connections: new ConnectionCounter() };
        const server = new GatedSmtpServer(serverOptions(this.config, l, rt, tls), {
          requireTls: l.kind === 'submission',
          requireAuth: l.kind !== 'mx',
          unauthenticatedCommandsMax: this.config.limits.unauthenticatedCommandsMax,
          unrecognizedCommandsMax: this.config.limits.unrecognizedCommandsMax,
          greetingDelayMs: this.config.limits.greetingDelayMs,
        });
        server.on('error', (err) => rt.logger.warn({ subsystem: 'smtp', listener: l.kind, event: 'socket.error', err }, 'socket error'));
        this.servers.push({ kind: l.kind, server });
        this.bound.push(await listen(server, l.kind, this.config.bindAddress, l.port));
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.state = 'running';
    for (const b of this.bound) shared.logger.info({ subsystem: 'smtp', event: 'listen', listener: b.kind, host: b.host, port: b.port }, 'listening');
    return this.bound;
  }

  address(kind: ListenerKind): BoundListener | undefined {
    return this.bound.find((b) => b.kind === kind);
  }

  /**
   * Stops accepting, lets open sessions finish for up to limits.closeTimeoutMs, then
   * sends them 421 and closes. Pending backend calls see their signal aborted; a message
   * being delivered then gets no 250, and its client retries.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    const closing = this.servers.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve())));
    this.servers = [];
    await Promise.all(closing);
    this.shutdown.abort(new Error('smtp: front end stopped'));
  }

  private sharedRuntime(): Omit<ListenerRuntime, 'listener' | 'connections'> {
    const { limits } = this.config;
    return {
      config: this.config,
      backend: this.deps.backend,
      hooks: this.deps.hooks ?? {},
      logger: this.deps.logger ?? silentLogger,
      clock: this.deps.clock ?? systemClock,
      newId: this.deps.newId ?? randomMessageId,
      authFailures: new AuthFailureTracker({
        windowMs: limits.authFailureWindowMs,
        perAddressMax: limits.authFailuresPerIpMax,
        trackedMax: limits.authFailureTrackedIpsMax,
      }),
      buffered: new ByteBudget(limits.bufferedMessageBytesMax),
      shutdown: this.shutdown.signal,
    };
  }
}

function serverOptions(config: ResolvedSmtpConfig, l: ResolvedListener, rt: ListenerRuntime, tls: { key: Buffer; cert: Buffer } | null): SMTPServerOptions {
  const { limits } = config;
  const tlsOptions = tls === null ? {} : { key: tls.key, cert: tls.cert, minVersion: tlsMinVersion } as const;
  return {
    ...tlsOptions,
    secure: l.kind === 'submissions',
    name: config.hostname,
    banner: 'stormo',
    size: limits.messageBytesMax,
    hideENHANCEDSTATUSCODES: false, // RFC 2034: advertise and use enhanced codes
    hideDSN: true, // no DSN generation before outbound delivery exists
    hideREQUIRETLS: true,
    hideSTARTTLS: tls === null,
    disabledCommands: listenerDisabledCommands(l.kind, tls !== null),
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: l.kind === 'mx',
    authRequiredMessage: replyText(replies.authRequired),
    // connection.ts counts these, with our reply. Not `false`: smtp-server 3.21.6 reads it
    // with `|| 10`, so false would mean 10.
    maxAllowedUnauthenticatedCommands: Number.MAX_SAFE_INTEGER,
    maxRecipients: limits.recipientsPerMessageMax,
    maxCommandLength: limits.commandLineBytesMax,
    maxClients: limits.connectionsMax,
    socketTimeout: limits.socketIdleMs,
    closeTimeout: limits.closeTimeoutMs,
    useProxy: l.trustedProxies === null ? false : [...l.trustedProxies],
    disableReverseLookup: !config.reverseDns,
    logger: false, // we log our own vocabulary (STYLE); smtp-server's `tnx` means something else
    onConnect: onConnect(rt),
    onSecure: onSecure(rt),
    onAuth: onAuth(rt),
    onMailFrom: onMailFrom(rt),
    onRcptTo: onRcptTo(rt),
    onData: onData(rt),
    onClose: onClose(rt),
  };
}

function listen(server: GatedSmtpServer, kind: ListenerKind, host: string, port: number): Promise<BoundListener> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.server.once('error', onError);
    server.listen(port, host, () => {
      server.server.off('error', onError);
      const a = server.server.address() as AddressInfo;
      resolve({ kind, host: a.address, port: a.port });
    });
  });
}
