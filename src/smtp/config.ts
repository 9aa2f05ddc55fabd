// Configuration of the SMTP front end: every field documented, one validateSmtpConfig() that rejects impossible ones.
// No I/O except loadTls(), which reads the key and certificate files when start() asks for them.

import { readFile } from 'node:fs/promises';
import net from 'node:net';
import type { ListenerKind } from './backend.ts';
import { SmtpConfigError } from './errors.ts';
import { defaultSmtpLimits, type SmtpLimits } from './limits.ts';

/** PEM key and certificate chain, given inline... */
export interface TlsPem {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
}
/** ...or as file paths, read at start(). */
export interface TlsFiles {
  readonly keyPath: string;
  readonly certPath: string;
}

export interface ListenerConfig {
  /** TCP port; 0 picks a free one (tests). Standard: MX 25, submission 587, submissions 465. */
  readonly port: number;
  /**
   * Expect a PROXY protocol header from these balancer addresses (any other peer is
   * served directly). smtp-server parses version 1 only, so HAProxy must use
   * `send-proxy`, not `send-proxy-v2`, on SMTP backends. The header's source address is
   * then the client address everywhere: limits, logs, Received, hooks.
   */
  readonly proxyProtocol?: { readonly trustedProxies: readonly string[] } | undefined;
}

export interface SmtpConfig {
  /** Our host name: greeting, EHLO reply, Received `by`. Must match reverse DNS (DESIGN: reputation hygiene). */
  readonly hostname: string;
  /** Address every listener binds to. Default 127.0.0.1; a node behind HAProxy binds its service address. */
  readonly bindAddress?: string | undefined;
  /** Certificate for STARTTLS (MX, 587) and implicit TLS (465). Required by submission and submissions; without it the MX offers no STARTTLS. */
  readonly tls?: TlsPem | TlsFiles | undefined;
  /** Which listeners run; at least one. */
  readonly listeners: {
    /** Incoming mail for hosted domains; no AUTH. */
    readonly mx?: ListenerConfig | undefined;
    /** RFC 6409 submission: STARTTLS, then AUTH, then mail. */
    readonly submission?: ListenerConfig | undefined;
    /** RFC 8314 submission over implicit TLS. */
    readonly submissions?: ListenerConfig | undefined;
  };
  /** Look up the client's reverse DNS name for Received and hooks. Default true; tests turn it off. */
  readonly reverseDns?: boolean | undefined;
  /** Overrides of limits.ts defaults. */
  readonly limits?: Partial<SmtpLimits> | undefined;
}

export interface ResolvedListener {
  readonly kind: ListenerKind;
  readonly port: number;
  readonly trustedProxies: readonly string[] | null;
}

export interface ResolvedSmtpConfig {
  readonly hostname: string;
  readonly bindAddress: string;
  readonly tls: TlsPem | TlsFiles | null;
  readonly listeners: readonly ResolvedListener[];
  readonly reverseDns: boolean;
  readonly limits: Readonly<SmtpLimits>;
}

const hostnameSyntax = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** Lower bounds below which a limit breaks a standard or makes no sense. */
const limitFloors: Readonly<Record<keyof SmtpLimits, number>> = {
  messageBytesMax: 1024,
  bufferedMessageBytesMax: 1024,
  recipientsPerMessageMax: 1,
  commandLineBytesMax: 512, // RFC 5321 §4.5.3.1.4
  dataLineBytesMax: 998, // RFC 5322 §2.1.1
  connectionsPerIpMax: 1,
  connectionsMax: 1,
  unrecognizedCommandsMax: 0,
  greetingDelayMs: 0,
  unauthenticatedCommandsMax: 4, // EHLO, STARTTLS, EHLO, AUTH
  authFailureDelayMs: 0,
  authFailuresPerIpMax: 1,
  authFailureWindowMs: 1,
  authFailureTrackedIpsMax: 1,
  socketIdleMs: 1000,
  backendCallTimeoutMs: 1,
  deliverTimeoutMs: 1,
  closeTimeoutMs: 0,
};

export function validateSmtpConfig(c: SmtpConfig): ResolvedSmtpConfig {
  const fail = (field: string, why: string): never => {
    throw new SmtpConfigError(`smtp config: ${field} ${why}`);
  };
  if (!hostnameSyntax.test(c.hostname)) fail('hostname', `"${c.hostname}" is not a host name`);
  const bindAddress = c.bindAddress ?? '127.0.0.1';
  if (net.isIP(bindAddress) === 0) fail('bindAddress', `"${bindAddress}" is not an IP address`);
  const tls = c.tls ?? null;
  if (tls !== null && !('key' in tls) && !('keyPath' in tls)) fail('tls', 'needs key+cert or keyPath+certPath');

  const limits: SmtpLimits = { ...defaultSmtpLimits, ...c.limits };
  for (const [name, floor] of Object.entries(limitFloors) as [keyof SmtpLimits, number][]) {
    const v = limits[name];
    if (!Number.isSafeInteger(v) || v < floor) fail(`limits.${name}`, `must be an integer >= ${floor}, got ${v}`);
  }
  if (limits.bufferedMessageBytesMax < limits.messageBytesMax) fail('limits.bufferedMessageBytesMax', 'must be >= messageBytesMax');

  const listeners: ResolvedListener[] = [];
  const ports = new Set<number>();
  for (const kind of ['mx', 'submission', 'submissions'] as const) {
    const l = c.listeners[kind];
    if (l === undefined) continue;
    if (!Number.isInteger(l.port) || l.port < 0 || l.port > 65535) fail(`listeners.${kind}.port`, `${l.port} is not a port`);
    if (l.port !== 0 && ports.has(l.port)) fail(`listeners.${kind}.port`, `${l.port} is used twice`);
    ports.add(l.port);
    if (kind !== 'mx' && tls === null) fail(`listeners.${kind}`, 'requires tls (RFC 8314: submission is never cleartext)');
    const proxies = l.proxyProtocol?.trustedProxies ?? null;
    for (const p of proxies ?? []) if (net.isIP(p) === 0) fail(`listeners.${kind}.proxyProtocol`, `"${p}" is not an IP address`);
    if (proxies !== null && proxies.length === 0) fail(`listeners.${kind}.proxyProtocol.trustedProxies`, 'is empty');
    listeners.push({ kind, port: l.port, trustedProxies: proxies });
  }
  if (listeners.length === 0) fail('listeners', 'enables none of mx, submission, submissions');

  return Object.freeze({
    hostname: c.hostname.toLowerCase(),
    bindAddress,
    tls,
    listeners: Object.freeze(listeners),
    reverseDns: c.reverseDns ?? true,
    limits: Object.freeze(limits),
  });
}

/** Key and certificate as PEM buffers, reading files when the config names paths. */
export async function loadTls(tls: TlsPem | TlsFiles): Promise<{ key: Buffer; cert: Buffer }> {
  if ('key' in tls) return { key: Buffer.from(tls.key), cert: Buffer.from(tls.cert) };
  try {
    const [key, cert] = await Promise.all([readFile(tls.keyPath), readFile(tls.certPath)]);
    return { key, cert };
  } catch (cause) {
    throw new SmtpConfigError(`smtp config: cannot read tls key or certificate`, { cause });
  }
}
