// The header fields the washer adds to a message it accepts: Authentication-Results (mailauth's), X-Spam-*, X-Virus-*.
// Pure: findings and decision in, CRLF-terminated header text out; every value is cleaned so no input can start a new field.

import { filterLimits } from './limits.ts';
import type { Decision, Findings } from './policy.ts';

/** Printable ASCII only; CR, LF and anything a scanner or a sender could smuggle in becomes '?'. */
export function headerSafe(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, '?');
}

/** Rule names as the scanners spell them; anything else is dropped. */
export function cleanRuleName(s: string): string | null {
  return /^[A-Za-z0-9_.-]{1,80}$/.test(s) ? s : null;
}

/** `name: value` folded at spaces to lines of at most ~78 octets (RFC 5322 §2.2.3), CRLF-terminated. */
export function foldField(name: string, value: string): string {
  const words = headerSafe(value).split(' ');
  const lines: string[] = [];
  let line = `${name}:`;
  for (const w of words) {
    if (w === '') continue;
    if (line.length + 1 + w.length > 78 && line.length > name.length + 1) {
      lines.push(line);
      line = `\t${w}`;
    } else {
      line += ` ${w}`;
    }
  }
  lines.push(line);
  return `${lines.join('\r\n')}\r\n`;
}

/** mailauth's header block (Received-SPF, Authentication-Results), with every line ending made CRLF. */
export function normalizeHeaderBlock(block: string): string {
  const lines = block.split(/\r?\n/).filter((l) => l !== '');
  if (lines.length === 0) return '';
  return `${lines.map((l) => headerSafe(l.replace(/\t/g, ' ')).replace(/^ /, '\t')).join('\r\n')}\r\n`;
}

export interface WasherHeaderInput {
  readonly findings: Findings;
  readonly decision: Decision;
  /** mailauth's headers, or null when authentication was not checked. */
  readonly authHeaders: string | null;
  /** The junk threshold of the first recipient, shown as `required=`. */
  readonly requiredScore: number;
}

const fmt = (n: number): string => n.toFixed(1);

/** Header text to prepend to an accepted message (INBOX or Junk). */
export function washerHeaders(h: WasherHeaderInput): string {
  const { findings: f, decision: d } = h;
  let out = h.authHeaders !== null ? normalizeHeaderBlock(h.authHeaders) : '';
  const junk = d.outcome === 'junk';
  const rules = f.spam.status === 'scanned' ? f.spam.rules.map(cleanRuleName).filter((r): r is string => r !== null) : [];
  const extra = [...f.dnsbl.map((x) => `DNSBL_${x.zone}`), ...(f.client?.reasons ?? [])].map(cleanRuleName).filter((r): r is string => r !== null);
  const tests = [...rules, ...extra].slice(0, filterLimits.rulesRecordedMax);
  out += foldField('X-Spam-Status', `${junk ? 'Yes' : 'No'}, score=${fmt(d.score)} required=${fmt(h.requiredScore)} tests=${tests.length > 0 ? tests.join(',') : 'none'} engine=${f.spam.engine}`);
  out += foldField('X-Spam-Score', fmt(d.score));
  if (junk) {
    out += foldField('X-Spam-Flag', 'YES');
    out += foldField('X-Spam-Reason', d.reason);
  }
  out += foldField('X-Virus-Scanned', virusText(f));
  const unscanned = unscannedParts(f);
  if (unscanned.length > 0) out += foldField('X-Stormo-Unscanned', `${unscanned.join(', ')} (scanner unavailable, delivered by fail-open policy)`);
  return out;
}

function virusText(f: Findings): string {
  switch (f.virus.status) {
    case 'clean':
      return 'clamd; clean';
    case 'infected':
      return `clamd; infected (${f.virus.name})`;
    case 'skipped':
      return `none (${f.virus.reason})`;
    case 'unscanned':
      return 'unscanned (clamd unavailable)';
  }
}

/** Which checks could not run: named in the header and the record. */
export function unscannedParts(f: Findings): string[] {
  const out: string[] = [];
  if (f.spam.status === 'unscanned') out.push(`spam (${f.spam.engine})`);
  if (f.virus.status === 'unscanned') out.push('virus (clamd)');
  return out;
}
