// Configuration of the IMAP server: every field with its unit, default and trade-off, and the one place
// (resolveImapConfig) that rejects impossible combinations. No I/O: certificates arrive as PEM in memory.

import { type ConnectionLimitsConfig, type FrontDoorConfig, type ListenAddress, type ResolvedConnectionLimits, type ResolvedFrontDoor, checkInteger, resolveConnectionLimits, resolveFrontDoor } from '../net/config.ts';
import { ImapError } from './errors.ts';
import * as L from './limits.ts';

export type ImapListenAddress = ListenAddress;

/** Fields documented in FrontDoorConfig and ConnectionLimitsConfig are repeated here where IMAP has its own default or rule. */
export interface ImapServerConfig extends FrontDoorConfig, ConnectionLimitsConfig {
  /** Name in the greeting. Default "stormo". */
  serverName?: string;
  /** Plain listener (port 143 style); STARTTLS is offered when `tls` is set. */
  plain?: ImapListenAddress;
  /** Implicit TLS listener (port 993 style, RFC 8314). Requires `tls`. */
  implicitTls?: ImapListenAddress;
  /**
   * Allow LOGIN and AUTHENTICATE PLAIN without TLS. Default false: LOGINDISABLED is advertised and
   * both are refused until STARTTLS (RFC 9051 §6.2.3). Only for networks where the wire cannot be read.
   */
  allowPlaintextAuth?: boolean;
  /** 'required': every connection starts with a PROXY v1/v2 header (HAProxy send-proxy-v2). Default 'off'. */
  proxyProtocol?: 'off' | 'required';
  /** APPENDLIMIT (RFC 7889): largest message accepted by APPEND, bytes. Default 50 MiB. */
  appendLimitBytes?: number;
  /** Inactivity outside IDLE before `* BYE`. RFC 9051 §5.4: at least 30 minutes. Default 30 minutes. */
  idleTimeoutMs?: number;
  /** Longest IDLE before `* BYE`. Default 35 minutes. */
  idleMaxMs?: number;
  /** Connections at once, all listeners. Default 10 000. */
  connectionsMax?: number;
  /** Connections at once from one address (IPv6: one /64). Default 100. */
  connectionsPerIpMax?: number;
  /** Authenticated sessions at once for one account. Default 50. */
  connectionsPerUserMax?: number;
  /** Pause before answering a failed login. Default 2 s. */
  authFailureDelayMs?: number;
}

export interface ResolvedImapConfig extends ResolvedFrontDoor, ResolvedConnectionLimits {
  readonly appendLimitBytes: number;
  readonly idleTimeoutMs: number;
  readonly idleMaxMs: number;
  readonly connectionsPerUserMax: number;
}

function invalid(message: string): never {
  throw new ImapError('CONFIG_INVALID', message);
}

const limitDefaults: ResolvedConnectionLimits = {
  tlsHandshakeTimeoutMs: L.imapTlsHandshakeTimeoutMsDefault,
  proxyHeaderTimeoutMs: L.imapProxyHeaderTimeoutMsDefault,
  connectionsMax: L.imapConnectionsMaxDefault,
  connectionsPerIpMax: L.imapConnectionsPerIpMaxDefault,
  badCommandsMax: L.imapBadCommandsMaxDefault,
  authFailureDelayMs: L.imapAuthFailureDelayMsDefault,
  authFailuresPerConnectionMax: L.imapAuthFailuresPerConnectionMaxDefault,
  authFailuresPerIpMax: L.imapAuthFailuresPerIpMaxDefault,
  authFailureWindowMs: L.imapAuthFailureWindowMsDefault,
};

/** Fills defaults and validates; throws ImapError('CONFIG_INVALID'). */
export function resolveImapConfig(c: ImapServerConfig): ResolvedImapConfig {
  const frontDoor = resolveFrontDoor(c, invalid);
  const idleTimeoutMs = checkInteger(invalid, 'idleTimeoutMs', c.idleTimeoutMs ?? L.imapIdleTimeoutMsDefault, L.imapIdleTimeoutMsMin);
  return {
    ...frontDoor,
    appendLimitBytes: checkInteger(invalid, 'appendLimitBytes', c.appendLimitBytes ?? L.imapAppendLimitBytesDefault, 1024),
    idleTimeoutMs,
    idleMaxMs: checkInteger(invalid, 'idleMaxMs', c.idleMaxMs ?? L.imapIdleMaxMsDefault, 1_000),
    connectionsPerUserMax: checkInteger(invalid, 'connectionsPerUserMax', c.connectionsPerUserMax ?? L.imapConnectionsPerUserMaxDefault, 1),
    ...resolveConnectionLimits(c, limitDefaults, invalid),
  };
}
