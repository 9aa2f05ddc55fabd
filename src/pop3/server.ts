// The POP3 network side: plain (110-style, with STLS) and implicit-TLS (995-style) listeners through the shared
// front door (src/net), and one Pop3Connection per client. Must not parse POP3 itself (connection.ts and
// commands/ do) nor know the store beyond Pop3Backend; no client input may throw out of here.

import type net from 'node:net';
import { FrontDoor } from '../net/front-door.ts';
import type { Logger } from '../net/logger.ts';
import type { Timers } from '../net/timers.ts';
import type { Pop3Backend } from './backend.ts';
import { type Pop3ServerConfig, type ResolvedPop3Config, resolvePop3Config } from './config.ts';
import { Pop3Connection } from './connection.ts';
import { Pop3Error } from './errors.ts';
import { pop3CloseLingerMs } from './limits.ts';
import * as replies from './proto/replies.ts';
import { serializeReply } from './proto/reply.ts';

export interface Pop3ServerOptions {
  readonly config: Pop3ServerConfig;
  readonly backend: Pop3Backend;
  /** pino or anything with info/warn/error(obj, msg). Default: silent. */
  readonly logger?: Logger;
  /** Clock and timers; tests inject their own to drive idle timeouts. */
  readonly timers?: Timers;
  /** Connection ids for logs; default 12 random hex digits. */
  readonly newConnectionId?: () => string;
}

export interface Pop3ServerAddresses {
  readonly plain?: net.AddressInfo;
  readonly implicitTls?: net.AddressInfo;
}

export class Pop3Server {
  readonly config: ResolvedPop3Config;
  private readonly door: FrontDoor<Pop3Connection>;

  constructor(o: Pop3ServerOptions) {
    const config = resolvePop3Config(o.config);
    this.config = config;
    const backend = o.backend;
    this.door = new FrontDoor<Pop3Connection>({
      subsystem: 'pop3',
      protocol: 'POP3',
      config,
      // Plain listeners get a reason (RFC 3206 [SYS/TEMP]).
      refusals: {
        shuttingDown: serializeReply(replies.shuttingDown),
        tooManyConnections: serializeReply(replies.tooManyConnections),
        tooManyConnectionsFromAddress: serializeReply(replies.tooManyConnectionsFromAddress),
      },
      closeLingerMs: pop3CloseLingerMs,
      error: (code, message, cause) => new Pop3Error(code, message, { cause }),
      logger: o.logger,
      timers: o.timers,
      newConnectionId: o.newConnectionId,
      newSession: (c) =>
        new Pop3Connection({
          ...c,
          config,
          secureContext: this.door.secureContext,
          backend,
          timers: this.door.timers,
        }),
    });
  }

  /** Open connections right now (all listeners). */
  get connectionCount(): number {
    return this.door.connectionCount;
  }

  /** Binds the configured listeners; resolves with the bound addresses. */
  async listen(): Promise<Pop3ServerAddresses> {
    if (this.door.closed) throw new Pop3Error('NOT_LISTENING', 'server already closed');
    if (this.door.listening) throw new Pop3Error('LISTEN_FAILED', 'listen() called twice');
    const out: { plain?: net.AddressInfo; implicitTls?: net.AddressInfo } = {};
    if (this.config.plain !== undefined) out.plain = await this.door.bind('plain', this.config.plain);
    if (this.config.implicitTls !== undefined) out.implicitTls = await this.door.bind('implicitTls', this.config.implicitTls);
    return out;
  }

  /** Stops listening and closes every session now, without UPDATE; resolves when all have torn down. */
  async close(): Promise<void> {
    await this.door.close();
  }
}
