// Configuration of the POP3 server: every field with its unit, default and trade-off, and the one place
// (resolvePop3Config) that rejects impossible combinations. No I/O: certificates arrive as PEM in memory.

import type { SecureContextOptions } from 'node:tls';
import { Pop3Error } from './errors.ts';
import {
  pop3AuthFailureDelayMsDefault,
  pop3AuthFailureWindowMsDefault,
  pop3AuthFailuresPerConnectionMaxDefault,
  pop3AuthFailuresPerIpMaxDefault,
  pop3BadCommandsMaxDefault,
  pop3ConnectionsMaxDefault,
  pop3ConnectionsPerIpMaxDefault,
  pop3IdleTimeoutMsDefault,
  pop3IdleTimeoutMsMin,
  pop3ProxyHeaderTimeoutMsDefault,
  pop3TlsHandshakeTimeoutMsDefault,
} from './limits.ts';

export interface Pop3ListenAddress {
  readonly host: string;
  /** 0 picks a free port (tests); listen() reports the one bound. */
  readonly port: number;
}

export interface Pop3ServerConfig {
  /** Name in the greeting and the sign-off, as RFC 1939's examples use the host name. Default "stormo". */
  serverName?: string;
  /** Plain listener (port 110 style); STLS is offered on it when `tls` is set. */
  plain?: Pop3ListenAddress;
  /** Implicit TLS listener (port 995 style, RFC 8314 §3). Requires `tls`. */
  implicitTls?: Pop3ListenAddress;
  /** Certificate, key and other node:tls secure context options. Without it there is no STLS and no implicit TLS. */
  tls?: SecureContextOptions;
  /**
   * Allow USER/PASS and AUTH PLAIN without TLS. Default false: before TLS they are refused with
   * `-ERR [AUTH] Plaintext authentication disallowed ...` and not advertised (RFC 2595 §2.3, RFC 5034;
   * Dovecot's disable_plaintext_auth). Only for networks where the wire cannot be read.
   */
  allowPlaintextAuth?: boolean;
  /**
   * 'required': every connection must start with a PROXY v1 or v2 header (HAProxy `send-proxy-v2`), whose
   * source address becomes the client address; connections without one are closed. 'off' (default): no
   * header is expected, and one that arrives is just bad input. There is no "optional": it would let any
   * client spoof its address.
   */
  proxyProtocol?: 'off' | 'required';
  /**
   * With proxyProtocol 'required': the balancers' addresses. Only connections from them must start with
   * a header; others are served as direct clients (Dovecot's haproxy_trusted_networks). Absent: every
   * connection must.
   */
  trustedProxies?: readonly string[];
  /** Inactivity (waiting for a command, or for the client to read) before closing silently. RFC 1939 §3: at least 10 minutes. Default 10 minutes. */
  idleTimeoutMs?: number;
  /** Time for a TLS handshake. Default 30 s. */
  tlsHandshakeTimeoutMs?: number;
  /** Time for the PROXY header when required. Default 5 s. */
  proxyHeaderTimeoutMs?: number;
  /** Connections open at once, all listeners together. Default 10 000. */
  connectionsMax?: number;
  /** Connections open at once from one client address (IPv6: one /64). Default 50: offices share one address. */
  connectionsPerIpMax?: number;
  /** Bad commands (unknown, malformed, overlong, wrong state) before the connection is closed. Default 10. */
  badCommandsMax?: number;
  /** Pause before answering a failed login. Default 2 s: slows guessing, costs an honest typo little. */
  authFailureDelayMs?: number;
  /** Failed logins on one connection before it is closed. Default 3. */
  authFailuresPerConnectionMax?: number;
  /** Failed logins from one address within the window before further logins from it are refused. Default 10. */
  authFailuresPerIpMax?: number;
  /** Window for authFailuresPerIpMax. Default 15 minutes. */
  authFailureWindowMs?: number;
}

export interface ResolvedPop3Config {
  readonly serverName: string;
  readonly plain: Pop3ListenAddress | undefined;
  readonly implicitTls: Pop3ListenAddress | undefined;
  readonly tls: SecureContextOptions | undefined;
  readonly allowPlaintextAuth: boolean;
  readonly proxyProtocol: 'off' | 'required';
  /** Addresses that must send a PROXY header (unmapped IPv4/IPv6 text); null = every connection. */
  readonly trustedProxies: ReadonlySet<string> | null;
  readonly idleTimeoutMs: number;
  readonly tlsHandshakeTimeoutMs: number;
  readonly proxyHeaderTimeoutMs: number;
  readonly connectionsMax: number;
  readonly connectionsPerIpMax: number;
  readonly badCommandsMax: number;
  readonly authFailureDelayMs: number;
  readonly authFailuresPerConnectionMax: number;
  readonly authFailuresPerIpMax: number;
  readonly authFailureWindowMs: number;
}

function invalid(message: string): never {
  throw new Pop3Error('CONFIG_INVALID', message);
}

function integer(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) invalid(`${name} must be an integer >= ${min}, got ${value}`);
  return value;
}

function address(name: string, a: Pop3ListenAddress | undefined): Pop3ListenAddress | undefined {
  if (a === undefined) return undefined;
  if (typeof a.host !== 'string' || a.host === '') invalid(`${name}.host must be set`);
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) invalid(`${name}.port must be in 0..65535`);
  return { host: a.host, port: a.port };
}

/** Fills defaults and validates; throws Pop3Error('CONFIG_INVALID'). */
export function resolvePop3Config(c: Pop3ServerConfig): ResolvedPop3Config {
  const serverName = c.serverName ?? 'stormo';
  if (!/^[\x21-\x7e]{1,64}$/.test(serverName)) invalid('serverName must be 1..64 printable ASCII characters without spaces');
  const plain = address('plain', c.plain);
  const implicitTls = address('implicitTls', c.implicitTls);
  if (plain === undefined && implicitTls === undefined) invalid('at least one of plain and implicitTls must be set');
  if (implicitTls !== undefined && c.tls === undefined) invalid('implicitTls needs tls');
  const proxyProtocol = c.proxyProtocol ?? 'off';
  if (proxyProtocol !== 'off' && proxyProtocol !== 'required') invalid(`proxyProtocol must be 'off' or 'required'`);
  const idleTimeoutMs = c.idleTimeoutMs ?? pop3IdleTimeoutMsDefault;
  if (idleTimeoutMs < pop3IdleTimeoutMsMin) invalid(`idleTimeoutMs must be >= ${pop3IdleTimeoutMsMin} (RFC 1939 §3: at least 10 minutes)`);
  return {
    serverName,
    plain,
    implicitTls,
    tls: c.tls,
    allowPlaintextAuth: c.allowPlaintextAuth ?? false,
    proxyProtocol,
    trustedProxies: c.trustedProxies === undefined ? null : new Set(c.trustedProxies.map(unmapIPv4)),
    idleTimeoutMs: integer('idleTimeoutMs', idleTimeoutMs, pop3IdleTimeoutMsMin),
    tlsHandshakeTimeoutMs: integer('tlsHandshakeTimeoutMs', c.tlsHandshakeTimeoutMs ?? pop3TlsHandshakeTimeoutMsDefault, 1),
    proxyHeaderTimeoutMs: integer('proxyHeaderTimeoutMs', c.proxyHeaderTimeoutMs ?? pop3ProxyHeaderTimeoutMsDefault, 1),
    connectionsMax: integer('connectionsMax', c.connectionsMax ?? pop3ConnectionsMaxDefault, 1),
    connectionsPerIpMax: integer('connectionsPerIpMax', c.connectionsPerIpMax ?? pop3ConnectionsPerIpMaxDefault, 1),
    badCommandsMax: integer('badCommandsMax', c.badCommandsMax ?? pop3BadCommandsMaxDefault, 1),
    authFailureDelayMs: integer('authFailureDelayMs', c.authFailureDelayMs ?? pop3AuthFailureDelayMsDefault, 0),
    authFailuresPerConnectionMax: integer('authFailuresPerConnectionMax', c.authFailuresPerConnectionMax ?? pop3AuthFailuresPerConnectionMaxDefault, 1),
    authFailuresPerIpMax: integer('authFailuresPerIpMax', c.authFailuresPerIpMax ?? pop3AuthFailuresPerIpMaxDefault, 1),
    authFailureWindowMs: integer('authFailureWindowMs', c.authFailureWindowMs ?? pop3AuthFailureWindowMsDefault, 1),
  };
}

/** '::ffff:127.0.0.2' -> '127.0.0.2', so an IPv4 address matches however the socket reports it. */
export function unmapIPv4(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
