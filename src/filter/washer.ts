// The washer: SMTP policy hooks that check every message (DNSBL, rDNS/HELO, SPF/DKIM/DMARC/ARC, spam score, antivirus).
// Runs the checks and applies policy.ts; it never stores or sends anything and never waits past its deadlines.

import type { AcceptedRecipient, ConnectFacts, DataFacts, DataVerdict, PolicyVerdict, RcptToFacts, SmtpCallContext, SmtpLogger, SmtpPolicyHooks } from '../smtp/index.ts';
import { customReply } from '../smtp/index.ts';
import type { AccountId } from '../store/index.ts';
import { checkAuth, type AuthOutcome } from './auth.ts';
import { ClamdClient } from './clamd.ts';
import type { FilterConfig } from './config.ts';
import { clientFinding, confirmedPtr, createResolver, ExpiringLru, lookupDnsbl, type DnsResolver } from './dns.ts';
import { FilterError } from './errors.ts';
import { unscannedParts, washerHeaders } from './headers.ts';
import { filterLimits } from './limits.ts';
import { decide, dnsblRefusal, type ClientFinding, type Decision, type DnsblHit, type Findings, type PolicyReply, type RecipientPolicy, type SpamFinding, type VirusFinding } from './policy.ts';
import { RspamdClient } from './rspamd.ts';
import { filterSettingKey, listMatches, parseDomainSettings, parseUserSettings, type DomainFilterSettings, type UserFilterSettings } from './settings.ts';
import { SpamdClient } from './spamd.ts';

/** What the washer reads from the store (`store.queries` fits). */
export interface FilterSettingsReader {
  domainSetting<T>(domain: string, key: string): Promise<T | undefined>;
  accountSetting<T>(accountId: AccountId, key: string): Promise<T | undefined>;
}

export interface WasherDeps {
  readonly settings: FilterSettingsReader;
  readonly logger?: SmtpLogger | undefined;
  /** Authentication-Results authserv-id when the config names none: the node's SMTP host name. */
  readonly hostname: string;
  /** Injected for tests; default Date.now. */
  readonly nowMs?: (() => number) | undefined;
  /** Overrides the resolver built from config.dnsServers (tests). */
  readonly dns?: DnsResolver | undefined;
}

/** The per-address answers looked up at connect and reused at RCPT and DATA (cached). */
interface AddressInfo {
  readonly dnsbl: readonly DnsblHit[];
  /** Forward-confirmed reverse DNS; null when the check is off or the lookup failed. */
  readonly ptr: { readonly ptr: string | null; readonly confirmed: boolean } | null;
  readonly errors: readonly string[];
}

/** AddressInfo with this session's HELO scored. */
interface ClientInfo {
  readonly dnsbl: readonly DnsblHit[];
  readonly client: ClientFinding | null;
  readonly errors: readonly string[];
}

const silent: SmtpLogger = { debug() {}, info() {}, warn() {}, error() {} };

export class Washer implements SmtpPolicyHooks {
  readonly config: FilterConfig;
  private readonly deps: WasherDeps;
  private readonly log: SmtpLogger;
  private readonly now: () => number;
  private readonly dns: DnsResolver;
  private readonly spamd: SpamdClient | null;
  private readonly rspamd: RspamdClient | null;
  private readonly clamd: ClamdClient | null;
  private readonly clients: ExpiringLru<Promise<AddressInfo>>;

  constructor(config: FilterConfig, deps: WasherDeps) {
    this.config = config;
    this.deps = deps;
    this.log = deps.logger ?? silent;
    this.now = deps.nowMs ?? Date.now;
    this.dns = deps.dns ?? createResolver(config.dnsServers, config.dnsTimeoutMs);
    const s = config.spam;
    this.spamd = s.engine === 'spamd' && s.spamd ? new SpamdClient({ host: s.spamd.host, port: s.spamd.port, timeoutMs: s.timeoutMs }) : null;
    this.rspamd = s.engine === 'rspamd' && s.rspamd ? new RspamdClient({ ...s.rspamd, timeoutMs: s.timeoutMs }) : null;
    const av = config.antivirus;
    this.clamd = av.engine === 'clamd' && av.clamd ? new ClamdClient({ host: av.clamd.host, port: av.clamd.port, timeoutMs: av.timeoutMs }) : null;
    this.clients = new ExpiringLru(filterLimits.clientCacheEntriesMax, filterLimits.clientCacheTtlMs, this.now);
  }

  // The front end calls hooks as plain functions: bound here.
  readonly onConnect = (facts: ConnectFacts): Promise<PolicyVerdict> => this.connect(facts);
  readonly onRcptTo = (facts: RcptToFacts): Promise<PolicyVerdict> => this.rcptTo(facts);
  readonly onData = (facts: DataFacts, ctx: SmtpCallContext): Promise<DataVerdict> => this.data(facts, ctx);

  /** Starts the client lookups (DNSBL, PTR) without waiting: RCPT TO uses the answer. */
  private async connect(facts: ConnectFacts): Promise<PolicyVerdict> {
    if (facts.listener === 'mx') void this.addressInfo(facts.remoteAddress);
    return { action: 'continue' };
  }

  /** A client on a blocklist with action `reject` is refused here, per the recipient domain's setting. */
  private async rcptTo(facts: RcptToFacts): Promise<PolicyVerdict> {
    if (facts.listener !== 'mx' || facts.principal !== null || this.config.dnsbl.length === 0) return { action: 'continue' };
    const domain = domainOf(facts.recipient.address);
    const [info, ds] = await Promise.all([this.clientInfo(facts.remoteAddress, facts.helo), this.domainSettings(domain)]);
    const refusal = dnsblRefusal(info.dnsbl, ds.dnsblAction ?? 'reject', facts.remoteAddress);
    if (refusal === null) return { action: 'continue' };
    return { action: 'reject', reply: customReply(refusal.code, refusal.enhanced, refusal.text) };
  }

  private async data(facts: DataFacts, ctx: SmtpCallContext): Promise<DataVerdict> {
    const started = this.now();
    const inbound = facts.listener === 'mx' && facts.principal === null;
    const sender = { envelope: facts.mailFrom.toLowerCase(), header: headerFromAddress(await head(facts.message, headerBytesMax)) };
    const policies = await this.recipientPolicies(facts.recipients, sender);
    const scanSpam = policies.some((p) => p.spamScan);
    const scanVirus = policies.some((p) => p.virusScan);
    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(this.config.dataDeadlineMs)]);
    const [client, auth, spam, virus] = await Promise.all([
      inbound ? this.clientInfo(facts.remoteAddress, facts.helo) : Promise.resolve(null),
      inbound ? this.auth(facts, signal) : Promise.resolve(null),
      scanSpam ? this.spam(facts, signal) : Promise.resolve<SpamFinding>({ engine: this.config.spam.engine, status: 'skipped', reason: 'off for these recipients' }),
      scanVirus ? this.virus(facts.message, signal) : Promise.resolve<VirusFinding>({ status: 'skipped', reason: 'off for these recipients' }),
    ]);
    const findings: Findings = { spam, virus, auth: auth?.finding ?? null, dnsbl: client?.dnsbl ?? [], client: client?.client ?? null };
    const decision = decide(findings, policies, this.config.auth);
    const record = this.record(facts.id, findings, decision, policies, client, auth, this.now() - started);
    if (decision.outcome === 'tempfail' || decision.outcome === 'reject') return { action: 'reject', reply: trackedReply(decision.reply, decision.outcome, facts.id), record };
    const prependHeaders = washerHeaders({ findings, decision, authHeaders: auth?.headers ?? null, requiredScore: policies[0]?.junkScore ?? this.config.thresholds.junkScore });
    // One reply for all recipients (RFC 5321), but each keeps its own folder: only those whose own
    // thresholds call it spam (or would refuse it) get Junk.
    const each = new Map(decision.recipients.map((r) => [r.address, r.outcome === 'inbox' ? ('inbox' as const) : ('junk' as const)]));
    const mixed = new Set(each.values()).size > 1;
    return { action: 'accept', disposition: decision.outcome, ...(mixed ? { recipientDispositions: each } : {}), record, prependHeaders };
  }

  /** The session's client: the cached address answers, with its HELO scored (HELO is per session). */
  private async clientInfo(ip: string, helo: string): Promise<ClientInfo> {
    const a = await this.addressInfo(ip);
    return { dnsbl: a.dnsbl, client: a.ptr === null ? null : clientFinding(ip, helo, a.ptr, this.config.client), errors: a.errors };
  }

  /** DNSBL and reverse DNS, looked up once per address and cached (bounded LRU with expiry). */
  private addressInfo(ip: string): Promise<AddressInfo> {
    const cached = this.clients.get(ip);
    if (cached !== undefined) return cached;
    const lookup = this.lookupAddress(ip);
    this.clients.set(ip, lookup);
    // A failed lookup is not remembered: the next connection asks again.
    void lookup.then((info) => {
      if (info.errors.length > 0 && this.clients.get(ip) === lookup) this.clients.delete(ip);
    });
    return lookup;
  }

  private async lookupAddress(ip: string): Promise<AddressInfo> {
    const errors: string[] = [];
    const deadline = filterLimits.dnsblDeadlineMs;
    const dnsbl = bounded(lookupDnsbl(this.dns, ip, this.config.dnsbl), deadline, { hits: [], errors: [`dnsbl: over ${deadline} ms`] });
    const ptr = this.config.client.enabled
      ? bounded(confirmedPtr(this.dns, ip).catch((e: unknown) => ({ ptr: null, confirmed: false, error: String((e as { code?: string }).code ?? e) })), deadline, { ptr: null, confirmed: false, error: 'timeout' })
      : Promise.resolve(null);
    const [d, p] = await Promise.all([dnsbl, ptr]);
    errors.push(...d.errors);
    if (p !== null && 'error' in p) errors.push(`rdns: ${p.error}`);
    if (errors.length > 0) this.log.warn({ subsystem: 'filter', event: 'dns.failed', remoteAddress: ip, errors }, 'DNS lookups failed; the client is not scored for them');
    return { dnsbl: d.hits, ptr: p === null || 'error' in p ? null : p, errors };
  }

  private async auth(facts: DataFacts, signal: AbortSignal): Promise<AuthOutcome | null> {
    if (!this.config.auth.enabled) return null;
    try {
      const authservId = this.config.authservId ?? this.deps.hostname;
      return await checkAuth(this.dns, { message: facts.message, ip: facts.remoteAddress, helo: facts.helo, sender: facts.mailFrom, authservId }, this.config.auth.timeoutMs, signal);
    } catch (e) {
      this.log.warn({ subsystem: 'filter', event: 'auth.failed', id: facts.id, err: e }, 'SPF/DKIM/DMARC check failed; not counted');
      return null;
    }
  }

  /** The only check that needs the message in one buffer (SPAMC and HTTP want a length): only up to scanBytesMax. */
  private async spam(facts: DataFacts, signal: AbortSignal): Promise<SpamFinding> {
    const c = this.config.spam;
    if (c.engine === 'none') return { engine: 'none', status: 'skipped', reason: 'no engine configured' };
    if (facts.sizeBytes > c.scanBytesMax) return { engine: c.engine, status: 'skipped', reason: `larger than ${c.scanBytesMax} bytes` };
    const bytes = await collect(facts.message, facts.sizeBytes);
    try {
      if (this.spamd !== null) {
        const r = await this.spamd.check(bytes, signal);
        return { engine: 'spamd', status: 'scanned', score: r.score, rules: r.rules.slice(0, filterLimits.rulesRecordedMax) };
      }
      if (this.rspamd !== null) {
        const env = { ip: facts.remoteAddress, helo: facts.helo, from: facts.mailFrom, rcpt: facts.recipients.map((r) => r.address), queueId: facts.id, user: facts.principal?.username };
        const r = await this.rspamd.check(bytes, env, signal);
        return { engine: 'rspamd', status: 'scanned', score: r.score, rules: r.rules.slice(0, filterLimits.rulesRecordedMax) };
      }
      throw new FilterError(c.engine, 'CONFIG', 'engine without an address');
    } catch (e) {
      this.log.warn({ subsystem: 'filter', event: 'scanner.failed', scanner: c.engine, id: facts.id, err: e }, 'spam scanner failed');
      return { engine: c.engine, status: 'unscanned', error: errorText(e) };
    }
  }

  /** Streamed to clamd chunk by chunk: no copy of the message. */
  private async virus(message: AsyncIterable<Uint8Array>, signal: AbortSignal): Promise<VirusFinding> {
    if (this.clamd === null) return { status: 'skipped', reason: 'no antivirus configured' };
    try {
      const r = await this.clamd.scan(message, signal);
      return r.infected ? { status: 'infected', name: r.name } : { status: 'clean' };
    } catch (e) {
      this.log.warn({ subsystem: 'filter', event: 'scanner.failed', scanner: 'clamd', err: e }, 'antivirus failed');
      return { status: 'unscanned', error: errorText(e) };
    }
  }

  private async domainSettings(domain: string): Promise<DomainFilterSettings> {
    const raw = await this.deps.settings.domainSetting<unknown>(domain, filterSettingKey);
    const s = parseDomainSettings(raw);
    if (s === null) this.log.warn({ subsystem: 'filter', event: 'settings.invalid', domain }, 'stored domain filter settings do not parse; defaults used');
    return s ?? {};
  }

  private async userSettings(accountId: string): Promise<UserFilterSettings> {
    const raw = await this.deps.settings.accountSetting<unknown>(accountId as AccountId, filterSettingKey);
    const s = parseUserSettings(raw);
    if (s === null) this.log.warn({ subsystem: 'filter', event: 'settings.invalid', accountId }, 'stored user filter settings do not parse; defaults used');
    return s ?? {};
  }

  /** One policy per (recipient, account): node defaults, overridden by the domain, then by the user. */
  private async recipientPolicies(recipients: readonly AcceptedRecipient[], sender: { envelope: string; header: string }): Promise<(RecipientPolicy & { spamScan: boolean; virusScan: boolean })[]> {
    const out: (RecipientPolicy & { spamScan: boolean; virusScan: boolean })[] = [];
    const t = this.config.thresholds;
    for (const r of recipients) {
      const ds = await this.domainSettings(domainOf(r.address));
      for (const accountId of r.accountIds) {
        const us = await this.userSettings(accountId);
        const match = (list: readonly string[] | undefined): string | null => listMatches(list, sender.envelope) ?? listMatches(list, sender.header);
        out.push({
          address: r.address,
          junkScore: us.junkScore ?? ds.junkScore ?? t.junkScore,
          rejectScore: us.rejectScore ?? ds.rejectScore ?? t.rejectScore,
          dnsblAction: ds.dnsblAction ?? 'reject',
          enforceDmarc: ds.enforceDmarc ?? this.config.auth.enforceDmarc,
          clientChecks: ds.clientChecks ?? true,
          spamFailMode: ds.failMode ?? this.config.spam.failMode,
          virusFailMode: ds.failMode ?? this.config.antivirus.failMode,
          allowedBy: match(us.allow) ?? match(ds.allow),
          blockedBy: match(us.block) ?? match(ds.block),
          spamScan: ds.spamScan ?? true,
          virusScan: ds.virusScan ?? true,
        });
      }
    }
    return out;
  }

  /** The decision as plain data: kept with the message (MessageExtras.filter) and logged by the front end. */
  private record(id: string, f: Findings, d: Decision, policies: readonly RecipientPolicy[], client: ClientInfo | null, auth: AuthOutcome | null, elapsedMs: number): Record<string, unknown> {
    return {
      version: 1,
      id,
      outcome: d.outcome,
      reason: d.reason,
      score: d.score,
      junkScore: policies[0]?.junkScore ?? this.config.thresholds.junkScore,
      rejectScore: policies[0]?.rejectScore ?? this.config.thresholds.rejectScore,
      spam: f.spam,
      virus: f.virus,
      auth: auth === null ? null : auth.finding,
      dnsbl: f.dnsbl.map((h) => h.zone),
      client: f.client === null ? null : { ptr: f.client.ptr, confirmed: f.client.confirmed, score: f.client.score, reasons: f.client.reasons },
      dnsErrors: client?.errors ?? [],
      unscanned: unscannedParts(f),
      recipients: d.recipients.map((r) => ({ address: r.address, outcome: r.outcome, score: r.score, reason: r.reason })),
      elapsedMs,
    };
  }
}

/** The refusal with the message id in its text, so the sender can quote it and we can find it (G5). */
function trackedReply(r: PolicyReply | null, outcome: 'reject' | 'tempfail', id: string) {
  const base = r ?? (outcome === 'reject' ? { code: 554, enhanced: '5.7.1', text: 'Message refused' } : { code: 451, enhanced: '4.7.1', text: 'Try again later' });
  return customReply(base.code, base.enhanced, `${base.text} [${id}]`);
}

/** Resolves `fallback` if `p` takes longer than `ms` (the SMTP session never waits on a slow lookup). */
function bounded<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Enough of the message for its header block (allow/block lists look at From:). */
const headerBytesMax = 64 * 1024;

/** The first `bytesMax` bytes (or fewer) of the message. */
async function head(message: AsyncIterable<Uint8Array>, bytesMax: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  let n = 0;
  for await (const c of message) {
    chunks.push(c);
    n += c.length;
    if (n >= bytesMax) break;
  }
  return Buffer.concat(chunks).subarray(0, bytesMax);
}

async function collect(message: AsyncIterable<Uint8Array>, sizeBytes: number): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const c of message) chunks.push(c);
  return Buffer.concat(chunks, sizeBytes);
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return (at >= 0 ? address.slice(at + 1) : address).toLowerCase();
}

function errorText(e: unknown): string {
  return e instanceof FilterError ? `${e.code}: ${e.message}` : 'internal error';
}

/** The first From: address of the header block (for allow/block lists), lower case, or ''. */
export function headerFromAddress(message: Uint8Array): string {
  const text = Buffer.from(message.buffer, message.byteOffset, Math.min(message.length, headerBytesMax)).toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const unfolded = (end < 0 ? text : text.slice(0, end)).replace(/\r\n[ \t]+/g, ' ');
  const line = /^from:(.*)$/im.exec(unfolded)?.[1] ?? '';
  const addr = /<([^<>\s]+@[^<>\s]+)>/.exec(line)?.[1] ?? /([^\s<>",;:]+@[^\s<>",;:]+)/.exec(line)?.[1] ?? '';
  return addr.toLowerCase();
}
