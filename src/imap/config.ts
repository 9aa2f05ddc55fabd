// Configuration of the IMAP server: every field with its unit, default and trade-off, and the one place
// (resolveImapConfig) that rejects impossible combinations. No I/O: certificates arrive as PEM in memory.

import type { SecureContextOptions } from 'node:tls';
import { ImapError } from './errors.ts';
import * as L from './limits.ts';

export interface ImapListenAddress {
  readonly host: string;
  /** 0 picks a free port (tests); listen() reports the one bound. */
  readonly port: number;
}

export interface ImapServerConfig {
  /** Name in the greeting. Default "stormo". */
  serverName?: string;
  /** Plain listener (port 143 style); STARTTLS is offered when `tls` is set. */
  plain?: ImapListenAddress;
  /** Implicit TLS listener (port 993 style, RFC 8314). Requires `tls`. */
  implicitTls?: ImapListenAddress;
  tls?: SecureContextOptions;
  /**
   * Allow LOGIN and AUTHENTICATE PLAIN without TLS. Default false: LOGINDISABLED is advertised and
   * both are refused until STARTTLS (RFC 9051 §6.2.3). Only for networks where the wire cannot be read.
   */
  allowPlaintextAuth?: boolean;
  /** 'required': every connection starts with a PROXY v1/v2 header (HAProxy send-proxy-v2). Default 'off'. */
  proxyProtocol?: 'off' | 'required';
  /**
   * With proxyProtocol 'required': the balancers' addresses. Only connections from them must start with
   * a header; others are served as direct clients (Dovecot's haproxy_trusted_networks). Absent: every
   * connection must.
   */
  trustedProxies?: readonly string[];
  /** APPENDLIMIT (RFC 7889): largest message accepted by APPEND, bytes. Default 50 MiB. */
  appendLimitBytes?: number;
  /** Inactivity outside IDLE before `* BYE`. RFC 9051 §5.4: at least 30 minutes. Default 30 minutes. */
  idleTimeoutMs?: number;
  /** Longest IDLE before `* BYE`. Default 35 minutes. */
  idleMaxMs?: number;
  tlsHandshakeTimeoutMs?: number;
  proxyHeaderTimeoutMs?: number;
  /** Connections at once, all listeners. Default 10 000. */
  connectionsMax?: number;
  /** Connections at once from one address (IPv6: one /64). Default 100. */
  connectionsPerIpMax?: number;
  /** Authenticated sessions at once for one account. Default 50. */
  connectionsPerUserMax?: number;
  badCommandsMax?: number;
  /** Pause before answering a failed login. Default 2 s. */
  authFailureDelayMs?: number;
  authFailuresPerConnectionMax?: number;
  authFailuresPerIpMax?: number;
  authFailureWindowMs?: number;
}

export interface ResolvedImapConfig {
  readonly serverName: string;
  readonly plain: ImapListenAddress | undefined;
  readonly implicitTls: ImapListenAddress | undefined;
  readonly tls: SecureContextOptions | undefined;
  readonly allowPlaintextAuth: boolean;
  readonly proxyProtocol: 'off' | 'required';
  /** Addresses that must send a PROXY header (unmapped IPv4/IPv6 text); null = every connection. */
  readonly trustedProxies: ReadonlySet<string> | null;
  readonly appendLimitBytes: number;
  readonly idleTimeoutMs: number;
  readonly idleMaxMs: number;
  readonly tlsHandshakeTimeoutMs: number;
  readonly proxyHeaderTimeoutMs: number;
  readonly connectionsMax: number;
  readonly connectionsPerIpMax: number;
  readonly connectionsPerUserMax: number;
  readonly badCommandsMax: number;
  readonly authFailureDelayMs: number;
  readonly authFailuresPerConnectionMax: number;
  readonly authFailuresPerIpMax: number;
  readonly authFailureWindowMs: number;
}

function invalid(message: string): never {
  throw new ImapError('CONFIG_INVALID', message);
}

function integer(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) invalid(`${name} must be an integer >= ${min}, got ${value}`);
  return value;
}

function address(name: string, a: ImapListenAddress | undefined): ImapListenAddress | undefined {
  if (a === undefined) return undefined;
  if (typeof a.host !== 'string' || a.host === '') invalid(`${name}.host must be set`);
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) invalid(`${name}.port must be in 0..65535`);
  return { host: a.host, port: a.port };
}

/** Fills defaults and validates; throws ImapError('CONFIG_INVALID'). */
export function resolveImapConfig(c: ImapServerConfig): ResolvedImapConfig {
  const serverName = c.serverName ?? 'stormo';
  if (!/^[\x21-\x7e]{1,64}$/.test(serverName)) invalid('serverName must be 1..64 printable ASCII characters without spaces');
  const plain = address('plain', c.plain);
  const implicitTls = address('implicitTls', c.implicitTls);
  if (plain === undefined && implicitTls === undefined) invalid('at least one of plain and implicitTls must be set');
  if (implicitTls !== undefined && c.tls === undefined) invalid('implicitTls needs tls');
  const proxyProtocol = c.proxyProtocol ?? 'off';
  if (proxyProtocol !== 'off' && proxyProtocol !== 'required') invalid(`proxyProtocol must be 'off' or 'required'`);
  const idleTimeoutMs = integer('idleTimeoutMs', c.idleTimeoutMs ?? L.imapIdleTimeoutMsDefault, L.imapIdleTimeoutMsMin);
  return {
    serverName,
    plain,
    implicitTls,
    tls: c.tls,
    allowPlaintextAuth: c.allowPlaintextAuth ?? false,
    proxyProtocol,
    trustedProxies: c.trustedProxies === undefined ? null : new Set(c.trustedProxies.map(unmapIPv4)),
    appendLimitBytes: integer('appendLimitBytes', c.appendLimitBytes ?? L.imapAppendLimitBytesDefault, 1024),
    idleTimeoutMs,
    idleMaxMs: integer('idleMaxMs', c.idleMaxMs ?? L.imapIdleMaxMsDefault, 1_000),
    tlsHandshakeTimeoutMs: integer('tlsHandshakeTimeoutMs', c.tlsHandshakeTimeoutMs ?? L.imapTlsHandshakeTimeoutMsDefault, 1),
    proxyHeaderTimeoutMs: integer('proxyHeaderTimeoutMs', c.proxyHeaderTimeoutMs ?? L.imapProxyHeaderTimeoutMsDefault, 1),
    connectionsMax: integer('connectionsMax', c.connectionsMax ?? L.imapConnectionsMaxDefault, 1),
    connectionsPerIpMax: integer('connectionsPerIpMax', c.connectionsPerIpMax ?? L.imapConnectionsPerIpMaxDefault, 1),
    connectionsPerUserMax: integer('connectionsPerUserMax', c.connectionsPerUserMax ?? L.imapConnectionsPerUserMaxDefault, 1),
    badCommandsMax: integer('badCommandsMax', c.badCommandsMax ?? L.imapBadCommandsMaxDefault, 1),
    authFailureDelayMs: integer('authFailureDelayMs', c.authFailureDelayMs ?? L.imapAuthFailureDelayMsDefault, 0),
    authFailuresPerConnectionMax: integer('authFailuresPerConnectionMax', c.authFailuresPerConnectionMax ?? L.imapAuthFailuresPerConnectionMaxDefault, 1),
    authFailuresPerIpMax: integer('authFailuresPerIpMax', c.authFailuresPerIpMax ?? L.imapAuthFailuresPerIpMaxDefault, 1),
    authFailureWindowMs: integer('authFailureWindowMs', c.authFailureWindowMs ?? L.imapAuthFailureWindowMsDefault, 1),
  };
}

/** '::ffff:127.0.0.2' -> '127.0.0.2', so an IPv4 address matches however the socket reports it. */
export function unmapIPv4(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
