// The disposition policy: findings (scores, authentication, blocklists, scanner status) and thresholds in, outcome out.
// Pure and deterministic: no clock, no I/O, no store. DESIGN: three outcomes, never a silent drop.

/** The spam engine's finding. `unscanned`: the scanner failed (the fail mode decides). */
export type SpamFinding =
  | { readonly engine: 'spamd' | 'rspamd'; readonly status: 'scanned'; readonly score: number; readonly rules: readonly string[] }
  | { readonly engine: 'spamd' | 'rspamd' | 'none'; readonly status: 'skipped'; readonly reason: string }
  | { readonly engine: 'spamd' | 'rspamd'; readonly status: 'unscanned'; readonly error: string };

export type VirusFinding =
  | { readonly status: 'clean' }
  | { readonly status: 'infected'; readonly name: string }
  | { readonly status: 'skipped'; readonly reason: string }
  | { readonly status: 'unscanned'; readonly error: string };

/** mailauth's results reduced to what the policy needs; null when not checked (submission, disabled, failed). */
export interface AuthFinding {
  readonly spf: string;
  readonly dkim: string;
  readonly dmarc: string;
  /** The author domain's published policy when DMARC failed, else null. */
  readonly dmarcPolicy: 'none' | 'quarantine' | 'reject' | null;
  readonly arc: string;
  /** The RFC5322.From domain, when there was exactly one. */
  readonly fromDomain: string | null;
}

export interface DnsblHit {
  readonly zone: string;
  readonly weight: number;
  readonly action: 'reject' | 'score';
}

export interface ClientFinding {
  readonly ptr: string | null;
  readonly confirmed: boolean;
  readonly score: number;
  readonly reasons: readonly string[];
}

export interface Findings {
  readonly spam: SpamFinding;
  readonly virus: VirusFinding;
  readonly auth: AuthFinding | null;
  readonly dnsbl: readonly DnsblHit[];
  readonly client: ClientFinding | null;
}

/** Points for authentication failures that no enforced DMARC policy already handles. */
export interface AuthScores {
  readonly spfFailScore: number;
  readonly dkimFailScore: number;
  readonly dmarcFailScore: number;
}

/** One recipient's effective policy: node defaults, then its domain's settings, then its own. */
export interface RecipientPolicy {
  readonly address: string;
  readonly junkScore: number;
  readonly rejectScore: number;
  readonly dnsblAction: 'reject' | 'score' | 'off';
  readonly enforceDmarc: boolean;
  /** Count the client's reverse-DNS/HELO score. */
  readonly clientChecks: boolean;
  readonly spamFailMode: 'open' | 'closed';
  readonly virusFailMode: 'open' | 'closed';
  /** The allow/block entry that matched the sender, if any. */
  readonly allowedBy: string | null;
  readonly blockedBy: string | null;
}

export type Outcome = 'inbox' | 'junk' | 'reject' | 'tempfail';

/** A reply the Washer turns into an SmtpReply (it adds the tracking id). */
export interface PolicyReply {
  readonly code: number;
  readonly enhanced: string;
  readonly text: string;
}

export interface RecipientDecision {
  readonly address: string;
  readonly outcome: Outcome;
  readonly score: number;
  readonly reason: string;
  readonly reply: PolicyReply | null;
}

export interface Decision {
  readonly outcome: Outcome;
  /** The combined score of the first recipient (scores differ only by DNSBL handling). */
  readonly score: number;
  readonly reason: string;
  readonly reply: PolicyReply | null;
  readonly recipients: readonly RecipientDecision[];
}

const refusal = (code: number, enhanced: string, text: string): PolicyReply => ({ code, enhanced, text });

/** The score of the message for one recipient: engine score, blocklists, client hygiene, authentication. */
export function combinedScore(f: Findings, r: RecipientPolicy, a: AuthScores): number {
  let s = f.spam.status === 'scanned' ? f.spam.score : 0;
  if (r.dnsblAction !== 'off') for (const h of f.dnsbl) s += h.weight;
  if (r.clientChecks) s += f.client?.score ?? 0;
  if (f.auth !== null) {
    if (f.auth.spf === 'fail') s += a.spfFailScore;
    if (f.auth.dkim === 'fail') s += a.dkimFailScore;
    if (f.auth.dmarc === 'fail' && !(r.enforceDmarc && (f.auth.dmarcPolicy === 'reject' || f.auth.dmarcPolicy === 'quarantine'))) s += a.dmarcFailScore;
  }
  return Math.round(s * 100) / 100;
}

/** One recipient's outcome, in order of precedence: virus, scanner down, block, allow, DMARC, blocklist, score. */
export function decideRecipient(f: Findings, r: RecipientPolicy, a: AuthScores): RecipientDecision {
  const score = combinedScore(f, r, a);
  const out = (outcome: Outcome, reason: string, reply: PolicyReply | null = null): RecipientDecision => ({ address: r.address, outcome, score, reason, reply });
  if (f.virus.status === 'infected') return out('reject', `virus ${f.virus.name}`, refusal(554, '5.7.1', `Message refused: virus found (${f.virus.name})`));
  if (f.virus.status === 'unscanned' && r.virusFailMode === 'closed') return out('tempfail', 'antivirus unavailable', refusal(451, '4.7.1', 'Message could not be scanned for viruses, try again later'));
  if (f.spam.status === 'unscanned' && r.spamFailMode === 'closed' && r.allowedBy === null) {
    return out('tempfail', 'spam scanner unavailable', refusal(451, '4.7.1', 'Message could not be scanned, try again later'));
  }
  if (r.blockedBy !== null) return out('reject', `sender blocked (${r.blockedBy})`, refusal(554, '5.7.1', 'Message refused: sender blocked by the recipient'));
  if (r.allowedBy !== null) return out('inbox', `sender allowed (${r.allowedBy})`);
  if (f.auth !== null && f.auth.dmarc === 'fail' && r.enforceDmarc) {
    const domain = f.auth.fromDomain ?? 'the sender domain';
    if (f.auth.dmarcPolicy === 'reject') return out('reject', 'dmarc p=reject', refusal(550, '5.7.1', `Message refused: DMARC policy of ${domain} is reject`));
    if (f.auth.dmarcPolicy === 'quarantine') return out('junk', 'dmarc p=quarantine');
  }
  const listed = f.dnsbl.find((h) => h.action === 'reject');
  if (listed !== undefined && r.dnsblAction === 'reject') return out('reject', `dnsbl ${listed.zone}`, refusal(554, '5.7.1', `Service unavailable; client blocked using ${listed.zone}`));
  if (score >= r.rejectScore) return out('reject', `score ${score} >= ${r.rejectScore}`, refusal(554, '5.7.1', `Message refused as spam (score ${score})`));
  if (score >= r.junkScore) return out('junk', `score ${score} >= ${r.junkScore}`);
  return out('inbox', `score ${score} < ${r.junkScore}`);
}

/**
 * SMTP has one reply after DATA for all recipients, and the store one folder per delivery.
 * So: a temporary failure for one is one for all (the sender retries; nothing is lost);
 * refused only when every recipient refuses (never refuse mail someone accepts); Junk when
 * any recipient would not want it in INBOX; otherwise INBOX.
 */
export function decide(f: Findings, recipients: readonly RecipientPolicy[], a: AuthScores): Decision {
  if (recipients.length === 0) throw new Error('filter: decide() without recipients');
  const each = recipients.map((r) => decideRecipient(f, r, a));
  const first = each[0] as RecipientDecision;
  const pick = (d: RecipientDecision): Decision => ({ outcome: d.outcome, score: first.score, reason: d.reason, reply: d.reply, recipients: each });
  const tempfail = each.find((d) => d.outcome === 'tempfail');
  if (tempfail !== undefined) return pick(tempfail);
  if (each.every((d) => d.outcome === 'reject')) return pick(first);
  const junk = each.find((d) => d.outcome === 'junk' || d.outcome === 'reject');
  if (junk !== undefined) return { ...pick(junk), outcome: 'junk', reply: null };
  return pick(first);
}

/**
 * The DNSBL hit that refuses a recipient at RCPT time, if the domain lets `reject` lists refuse.
 * 554 at RCPT, naming the list, as Postfix's reject_rbl_client answers (senders' tooling knows it).
 */
export function dnsblRefusal(hits: readonly DnsblHit[], dnsblAction: 'reject' | 'score' | 'off', ip: string): PolicyReply | null {
  if (dnsblAction !== 'reject') return null;
  const h = hits.find((x) => x.action === 'reject');
  return h === undefined ? null : refusal(554, '5.7.1', `Service unavailable; client [${ip}] blocked using ${h.zone}`);
}
