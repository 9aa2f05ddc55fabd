// The IMAP network side: plain (143-style, with STARTTLS) and implicit-TLS (993-style) listeners through the
// shared front door (src/net), the change feed routed to sessions, and one ImapConnection per client.
// Must not parse IMAP itself (connection.ts and commands/ do); no client input may throw out of here.

import type net from 'node:net';
import type { Blobs } from '../blob/index.ts';
import { FrontDoor } from '../net/front-door.ts';
import type { Logger } from '../net/logger.ts';
import type { Timers } from '../net/timers.ts';
import type { Store } from '../store/index.ts';
import { type ImapServerConfig, type ResolvedImapConfig, resolveImapConfig } from './config.ts';
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

export interface ImapServerAddresses {
  readonly plain?: net.AddressInfo;
  readonly implicitTls?: net.AddressInfo;
}

export class ImapServer {
  readonly config: ResolvedImapConfig;
  private readonly store: Store;
  private readonly registry = new SessionRegistry();
  private readonly door: FrontDoor<ImapConnection>;
  private unsubscribe: (() => void) | undefined;

  constructor(o: ImapServerOptions) {
    const config = resolveImapConfig(o.config);
    this.config = config;
    this.store = o.store;
    const hooks = o.hooks ?? {};
    this.door = new FrontDoor<ImapConnection>({
      subsystem: 'imap',
      protocol: 'IMAP',
      config,
      refusals: {
        shuttingDown: '* BYE Server shutting down\r\n',
        tooManyConnections: '* BYE [UNAVAILABLE] Too many connections\r\n',
        tooManyConnectionsFromAddress: '* BYE [UNAVAILABLE] Too many connections from your address\r\n',
      },
      closeLingerMs: imapCloseLingerMs,
      error: (code, message, cause) => new ImapError(code, message, { cause }),
      logger: o.logger,
      timers: o.timers,
      newConnectionId: o.newConnectionId,
      newSession: (c) =>
        new ImapConnection({
          ...c,
          config,
          secureContext: this.door.secureContext,
          store: o.store,
          blobs: o.blobs,
          hooks,
          timers: this.door.timers,
          registry: this.registry,
        }),
    });
  }

  get connectionCount(): number {
    return this.door.connectionCount;
  }

  async listen(): Promise<ImapServerAddresses> {
    if (this.door.closed) throw new ImapError('NOT_LISTENING', 'server already closed');
    if (this.door.listening) throw new ImapError('LISTEN_FAILED', 'listen() called twice');
    const offChanges = this.store.onChanges((changes) => this.registry.dispatch(changes));
    // A snapshot installed from a peer replaces the whole state without per-folder changes: sessions'
    // views cannot be brought up to date, so they end with BYE and their clients resynchronize.
    const offRestored = this.store.onRestored(() => {
      this.door.logger.warn({ subsystem: 'imap', event: 'state-restored', sessions: this.door.liveCount }, 'store state replaced from a snapshot: closing sessions');
      for (const s of this.door.sessions()) s.shutdown();
    });
    this.unsubscribe = () => {
      offChanges();
      offRestored();
    };
    const out: { plain?: net.AddressInfo; implicitTls?: net.AddressInfo } = {};
    if (this.config.plain !== undefined) out.plain = await this.door.bind('plain', this.config.plain);
    if (this.config.implicitTls !== undefined) out.implicitTls = await this.door.bind('implicitTls', this.config.implicitTls);
    return out;
  }

  /** Stops listening and closes every session with `* BYE`; resolves when all have torn down. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.door.close();
  }
}
