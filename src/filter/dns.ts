// DNS for the washer: one resolver (configurable servers, bounded queries), DNSBL lookups, reverse DNS and HELO checks.
// I/O only for the lookups; the query-name builders and the HELO rules are pure functions exported for tests.

import { Resolver } from 'node:dns/promises';
import net from 'node:net';
import type { ClientFinding, DnsblHit } from './policy.ts';

export interface DnsResolver {
  /** mailauth's resolver signature (dns.promises.resolve). */
  resolve(name: string, rrtype: string): Promise<string[] | string[][]>;
  resolve4(name: string): Promise<string[]>;
  resolve6(name: string): Promise<string[]>;
  resolvePtr(name: string): Promise<string[]>;
}

/** A node:dns Resolver on `servers` (default: the system's), each query bounded by `timeoutMs`, one try. */
export function createResolver(servers: readonly string[] | undefined, timeoutMs: number): DnsResolver {
  const r = new Resolver({ timeout: timeoutMs, tries: 1 });
  if (servers !== undefined && servers.length > 0) r.setServers([...servers]);
  return {
    resolve: (name, rrtype) => r.resolve(name, rrtype as 'TXT') as Promise<string[] | string[][]>,
    resolve4: (name) => r.resolve4(name),
    resolve6: (name) => r.resolve6(name),
    resolvePtr: (name) => r.resolvePtr(name),
  };
}

const notFound = (e: unknown): boolean => ['ENOTFOUND', 'ENODATA', 'NXDOMAIN'].includes((e as { code?: string }).code ?? '');

/** The reversed name of an address: `d.c.b.a` for IPv4, 32 nibbles for IPv6 (RFC 5782 §2.1, §2.4). */
export function reversedIp(ip: string): string | null {
  if (net.isIPv4(ip)) return ip.split('.').reverse().join('.');
  if (!net.isIPv6(ip)) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped !== null) return reversedIp(mapped[1] as string);
  const halves = ip.split('::');
  const head = (halves[0] ?? '').split(':').filter((x) => x !== '');
  const tail = halves.length > 1 ? (halves[1] ?? '').split(':').filter((x) => x !== '') : [];
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  return groups.map((g) => g.padStart(4, '0')).join('').split('').reverse().join('.');
}

/**
 * A listing is an A record in 127.0.0.0/8 (RFC 5782 §2.1). Spamhaus answers 127.255.255.x
 * for refused or bad queries: that is an error, not a listing.
 */
export function isListing(a: string): boolean {
  return a.startsWith('127.') && !a.startsWith('127.255.255.');
}

export interface DnsblZone {
  readonly zone: string;
  readonly weight: number;
  readonly action: 'reject' | 'score';
}

/** Looks the client up in every zone in parallel; a zone that fails or times out counts as not listed (logged by the caller). */
export async function lookupDnsbl(dns: DnsResolver, ip: string, zones: readonly DnsblZone[]): Promise<{ hits: DnsblHit[]; errors: string[] }> {
  const rev = reversedIp(ip);
  if (rev === null || zones.length === 0) return { hits: [], errors: [] };
  const results = await Promise.all(
    zones.map(async (z) => {
      try {
        const answers = await dns.resolve4(`${rev}.${z.zone}`);
        return answers.some(isListing) ? { hit: { zone: z.zone, weight: z.weight, action: z.action } } : {};
      } catch (e) {
        return notFound(e) ? {} : { error: `${z.zone}: ${(e as { code?: string }).code ?? 'error'}` };
      }
    }),
  );
  return { hits: results.flatMap((r) => ('hit' in r && r.hit ? [r.hit] : [])), errors: results.flatMap((r) => ('error' in r && r.error ? [r.error] : [])) };
}

/** RFC 5321 §4.1.1.1: a fully qualified domain name or an address literal. */
export function heloIsValid(helo: string): boolean {
  if (/^\[(IPv6:)?[0-9a-f.:]+\]$/i.test(helo)) return true;
  return /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(helo);
}

export interface ClientScores {
  readonly noPtrScore: number;
  readonly ptrMismatchScore: number;
  readonly heloMismatchScore: number;
  readonly heloInvalidScore: number;
}

/** The PTR name that resolves back to `ip` (forward-confirmed reverse DNS), or what was found. */
export async function confirmedPtr(dns: DnsResolver, ip: string): Promise<{ ptr: string | null; confirmed: boolean }> {
  const rev = reversedIp(ip);
  if (rev === null) return { ptr: null, confirmed: false };
  let names: string[];
  try {
    names = await dns.resolvePtr(`${rev}.${net.isIPv4(ip) ? 'in-addr' : 'ip6'}.arpa`);
  } catch (e) {
    if (notFound(e)) return { ptr: null, confirmed: false };
    throw e;
  }
  for (const name of names.slice(0, 4)) {
    const addrs = await (net.isIPv4(ip) ? dns.resolve4(name) : dns.resolve6(name)).catch(() => [] as string[]);
    if (addrs.includes(ip)) return { ptr: name.toLowerCase(), confirmed: true };
  }
  return { ptr: names[0]?.toLowerCase() ?? null, confirmed: false };
}

/** Scores the client's hygiene from its confirmed PTR and its HELO (pure). */
export function clientFinding(ip: string, helo: string, p: { ptr: string | null; confirmed: boolean }, s: ClientScores): ClientFinding {
  const reasons: string[] = [];
  let score = 0;
  if (p.ptr === null) {
    reasons.push('RDNS_NONE');
    score += s.noPtrScore;
  } else if (!p.confirmed) {
    reasons.push('RDNS_MISMATCH');
    score += s.ptrMismatchScore;
  }
  const h = helo.toLowerCase();
  if (!heloIsValid(helo)) {
    reasons.push('HELO_INVALID');
    score += s.heloInvalidScore;
  } else if (!(p.confirmed && h === p.ptr) && h !== `[${ip}]` && h !== `[ipv6:${ip}]`) {
    reasons.push('HELO_MISMATCH');
    score += s.heloMismatchScore;
  }
  return { ptr: p.ptr, confirmed: p.confirmed, score: Math.round(score * 100) / 100, reasons };
}

/** A bounded LRU with expiry for per-client answers (DNSBL, PTR), so RCPT and DATA reuse the connect lookup. */
export class ExpiringLru<V> {
  private readonly map = new Map<string, { at: number; value: V }>();
  private readonly max: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(max: number, ttlMs: number, now: () => number) {
    this.max = max;
    this.ttlMs = ttlMs;
    this.now = now;
  }

  get(key: string): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    this.map.delete(key);
    if (this.now() - e.at > this.ttlMs) return undefined;
    this.map.set(key, e);
    return e.value;
  }

  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, { at: this.now(), value });
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }

  delete(key: string): void {
    this.map.delete(key);
  }
}
