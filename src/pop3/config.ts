// Configuration of the POP3 server: every field with its unit, default and trade-off, and the one place
// (resolvePop3Config) that rejects impossible combinations. No I/O: certificates arrive as PEM in memory.

import type { SecureContextOptions } from 'node:tls';
import { type ConnectionLimitsConfig, type FrontDoorConfig, type ListenAddress, type ResolvedConnectionLimits, type ResolvedFrontDoor, checkInteger, resolveConnectionLimits, resolveFrontDoor } from '../net/config.ts';
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

export type Pop3ListenAddress = ListenAddress;

/** Fields documented in FrontDoorConfig and ConnectionLimitsConfig are repeated here where POP3 has its own default or rule. */
export interface Pop3ServerConfig extends FrontDoorConfig, ConnectionLimitsConfig {
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

export interface ResolvedPop3Config extends ResolvedFrontDoor, ResolvedConnectionLimits {
  readonly idleTimeoutMs: number;
}

function invalid(message: string): never {
  throw new Pop3Error('CONFIG_INVALID', message);
}

const limitDefaults: ResolvedConnectionLimits = {
  tlsHandshakeTimeoutMs: pop3TlsHandshakeTimeoutMsDefault,
  proxyHeaderTimeoutMs: pop3ProxyHeaderTimeoutMsDefault,
  connectionsMax: pop3ConnectionsMaxDefault,
  connectionsPerIpMax: pop3ConnectionsPerIpMaxDefault,
  badCommandsMax: pop3BadCommandsMaxDefault,
  authFailureDelayMs: pop3AuthFailureDelayMsDefault,
  authFailuresPerConnectionMax: pop3AuthFailuresPerConnectionMaxDefault,
  authFailuresPerIpMax: pop3AuthFailuresPerIpMaxDefault,
  authFailureWindowMs: pop3AuthFailureWindowMsDefault,
};

/** Fills defaults and validates; throws Pop3Error('CONFIG_INVALID'). */
export function resolvePop3Config(c: Pop3ServerConfig): ResolvedPop3Config {
  const frontDoor = resolveFrontDoor(c, invalid);
  const idleTimeoutMs = c.idleTimeoutMs ?? pop3IdleTimeoutMsDefault;
  if (idleTimeoutMs < pop3IdleTimeoutMsMin) invalid(`idleTimeoutMs must be >= ${pop3IdleTimeoutMsMin} (RFC 1939 §3: at least 10 minutes)`);
  return {
    ...frontDoor,
    idleTimeoutMs: checkInteger(invalid, 'idleTimeoutMs', idleTimeoutMs, pop3IdleTimeoutMsMin),
    ...resolveConnectionLimits(c, limitDefaults, invalid),
  };
}
