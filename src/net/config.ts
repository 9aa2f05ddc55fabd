// Validation shared by the front ends' configurations: listen addresses, TLS and PROXY settings, connection and login limits.
// Must not know a protocol's defaults or error class: callers pass their defaults and an `invalid` that throws their error.

import type { SecureContextOptions } from 'node:tls';
import { unmapIPv4 } from './ip-address.ts';

export interface ListenAddress {
  readonly host: string;
  /** 0 picks a free port (tests); listen() reports the one bound. */
  readonly port: number;
}

/** Throws the caller's configuration error; never returns. */
export type Invalid = (message: string) => never;

/** The listener fields every front end's configuration has (each documents them for its protocol). */
export interface FrontDoorConfig {
  /** Name in the greeting: 1..64 printable ASCII characters. Default "stormo". */
  serverName?: string;
  /** Plain listener; STLS/STARTTLS is offered on it when `tls` is set. */
  plain?: ListenAddress;
  /** Implicit TLS listener (RFC 8314 §3). Requires `tls`. */
  implicitTls?: ListenAddress;
  /** Certificate, key and other node:tls secure context options. Without it there is no STLS/STARTTLS and no implicit TLS. */
  tls?: SecureContextOptions;
  /** Allow plaintext logins without TLS. Default false. */
  allowPlaintextAuth?: boolean;
  /** 'required': every connection starts with a PROXY v1/v2 header (HAProxy send-proxy-v2). Default 'off'. */
  proxyProtocol?: 'off' | 'required';
  /**
   * With proxyProtocol 'required': the balancers' addresses. Only connections from them must start with
   * a header; others are served as direct clients (Dovecot's haproxy_trusted_networks). Absent: every
   * connection must.
   */
  trustedProxies?: readonly string[];
}

export interface ResolvedFrontDoor {
  readonly serverName: string;
  readonly plain: ListenAddress | undefined;
  readonly implicitTls: ListenAddress | undefined;
  readonly tls: SecureContextOptions | undefined;
  readonly allowPlaintextAuth: boolean;
  readonly proxyProtocol: 'off' | 'required';
  /** Addresses that must send a PROXY header (unmapped IPv4/IPv6 text); null = every connection. */
  readonly trustedProxies: ReadonlySet<string> | null;
}

/** Limits on connections, bad commands and logins, common to the front ends; the defaults are each protocol's. */
export interface ConnectionLimitsConfig {
  /** Time for a TLS handshake (implicit TLS or after STLS/STARTTLS). */
  tlsHandshakeTimeoutMs?: number;
  /** Time for the PROXY header when required. */
  proxyHeaderTimeoutMs?: number;
  /** Connections open at once, all listeners together. */
  connectionsMax?: number;
  /** Connections open at once from one client address (IPv6: one /64). */
  connectionsPerIpMax?: number;
  /** Bad commands (unknown, malformed, overlong, wrong state) before the connection is closed. */
  badCommandsMax?: number;
  /** Pause before answering a failed login: slows guessing, costs an honest typo little. */
  authFailureDelayMs?: number;
  /** Failed logins on one connection before it is closed. */
  authFailuresPerConnectionMax?: number;
  /** Failed logins from one address within the window before further logins from it are refused. */
  authFailuresPerIpMax?: number;
  /** Window for authFailuresPerIpMax. */
  authFailureWindowMs?: number;
}

export type ResolvedConnectionLimits = { readonly [K in keyof ConnectionLimitsConfig]-?: number };

export function checkInteger(invalid: Invalid, name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) invalid(`${name} must be an integer >= ${min}, got ${value}`);
  return value;
}

function checkAddress(invalid: Invalid, name: string, a: ListenAddress | undefined): ListenAddress | undefined {
  if (a === undefined) return undefined;
  if (typeof a.host !== 'string' || a.host === '') invalid(`${name}.host must be set`);
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 65535) invalid(`${name}.port must be in 0..65535`);
  return { host: a.host, port: a.port };
}

/** Fills the listener fields' defaults and rejects impossible combinations through `invalid`. */
export function resolveFrontDoor(c: FrontDoorConfig, invalid: Invalid): ResolvedFrontDoor {
  const serverName = c.serverName ?? 'stormo';
  if (!/^[\x21-\x7e]{1,64}$/.test(serverName)) invalid('serverName must be 1..64 printable ASCII characters without spaces');
  const plain = checkAddress(invalid, 'plain', c.plain);
  const implicitTls = checkAddress(invalid, 'implicitTls', c.implicitTls);
  if (plain === undefined && implicitTls === undefined) invalid('at least one of plain and implicitTls must be set');
  if (implicitTls !== undefined && c.tls === undefined) invalid('implicitTls needs tls');
  const proxyProtocol = c.proxyProtocol ?? 'off';
  if (proxyProtocol !== 'off' && proxyProtocol !== 'required') invalid(`proxyProtocol must be 'off' or 'required'`);
  return {
    serverName,
    plain,
    implicitTls,
    tls: c.tls,
    allowPlaintextAuth: c.allowPlaintextAuth ?? false,
    proxyProtocol,
    trustedProxies: c.trustedProxies === undefined ? null : new Set(c.trustedProxies.map(unmapIPv4)),
  };
}

/** Fills the common limits from the protocol's `defaults` and checks each is an integer in range. */
export function resolveConnectionLimits(c: ConnectionLimitsConfig, defaults: ResolvedConnectionLimits, invalid: Invalid): ResolvedConnectionLimits {
  const int = (name: keyof ConnectionLimitsConfig, min: number): number => checkInteger(invalid, name, c[name] ?? defaults[name], min);
  return {
    tlsHandshakeTimeoutMs: int('tlsHandshakeTimeoutMs', 1),
    proxyHeaderTimeoutMs: int('proxyHeaderTimeoutMs', 1),
    connectionsMax: int('connectionsMax', 1),
    connectionsPerIpMax: int('connectionsPerIpMax', 1),
    badCommandsMax: int('badCommandsMax', 1),
    authFailureDelayMs: int('authFailureDelayMs', 0),
    authFailuresPerConnectionMax: int('authFailuresPerConnectionMax', 1),
    authFailuresPerIpMax: int('authFailuresPerIpMax', 1),
    authFailureWindowMs: int('authFailureWindowMs', 1),
  };
}
