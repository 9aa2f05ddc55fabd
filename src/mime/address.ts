// RFC 5322 §3.4 address lists into IMAP ENVELOPE address structures (RFC 9051 §7.5.2), leniently and
// as Dovecot does: groups as start/end markers, encoded-words kept raw, missing parts filled in.

import { mimeLimits } from './limits.ts';
import type { EnvelopeAddress } from './types.ts';
import { readQuoted } from './header.ts';

/** Placeholders Dovecot writes when an address lacks a part (a NIL host would read as a group marker). */
export const missingMailbox = 'MISSING_MAILBOX';
export const missingDomain = 'MISSING_DOMAIN';

type Token =
  | { kind: 'word'; text: string; quoted: boolean; unterminated?: boolean }
  | { kind: 'comment'; text: string }
  | { kind: 'special'; text: string }
  | { kind: 'literal'; text: string };

const SPECIALS = '<>@:;,';

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const ch = s[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n') { i++; continue; }
    if (ch === '"') {
      const [text, j] = readQuoted(s, i);
      const unterminated = j === s.length && !s.endsWith('"');
      out.push({ kind: 'word', text, quoted: true, ...(unterminated ? { unterminated } : {}) });
      i = j;
    } else if (ch === '(') {
      const j = commentEnd(s, i);
      out.push({ kind: 'comment', text: s.slice(i + 1, Math.max(i + 1, j - 1)).replace(/\\(.)/g, '$1') });
      i = j;
    } else if (ch === '[') {
      const j = s.indexOf(']', i);
      const e = j < 0 ? s.length : j + 1;
      out.push({ kind: 'literal', text: s.slice(i, e) });
      i = e;
    } else if (SPECIALS.includes(ch)) {
      out.push({ kind: 'special', text: ch });
      i++;
    } else {
      let j = i;
      while (j < s.length && !' \t\r\n"()[<>@:;,'.includes(s[j]!)) j++;
      if (j === i) j++; // a lone ')' or ']'
      out.push({ kind: 'word', text: s.slice(i, j), quoted: false });
      i = j;
    }
  }
  return out;
}

function commentEnd(s: string, i: number): number {
  let depth = 0;
  for (; i < s.length; i++) {
    if (s[i] === '\\') { i++; continue; }
    if (s[i] === '(') depth++;
    else if (s[i] === ')' && --depth === 0) return i + 1;
  }
  return s.length;
}

function isSpecial(t: Token | undefined, ch: string): boolean {
  return t !== undefined && t.kind === 'special' && t.text === ch;
}

/** Parses an address-list header value; null when it holds no address at all (ENVELOPE NIL). */
export function parseAddressList(value: string): EnvelopeAddress[] | null {
  const toks = tokenize(value);
  const out: EnvelopeAddress[] = [];
  let i = 0;
  while (i < toks.length && out.length < mimeLimits.addressesMax) {
    if (isSpecial(toks[i], ',') || isSpecial(toks[i], ';') || isSpecial(toks[i], '>')) { i++; continue; }
    const colon = groupColon(toks, i);
    if (colon >= 0) {
      out.push({ name: null, adl: null, mailbox: phrase(toks, i, colon) || missingMailbox, host: null });
      i = colon + 1;
      while (i < toks.length && !isSpecial(toks[i], ';') && out.length < mimeLimits.addressesMax - 1) {
        if (isSpecial(toks[i], ',')) { i++; continue; }
        i = mailbox(toks, i, out, true);
      }
      if (i < toks.length) i++; // the ';'
      out.push({ name: null, adl: null, mailbox: null, host: null });
    } else {
      i = mailbox(toks, i, out, false);
    }
  }
  return out.length === 0 ? null : out;
}

/** Index of the ':' that makes tokens from i a group (before any '<', '@' or ','), else -1. */
function groupColon(toks: Token[], i: number): number {
  for (let j = i; j < toks.length; j++) {
    const t = toks[j]!;
    if (t.kind !== 'special') continue;
    if (t.text === ':') return j > i ? j : -1;
    return -1;
  }
  return -1;
}

/** Display-name words joined by single spaces (quoted strings unquoted, comments dropped). */
function phrase(toks: Token[], from: number, to: number): string {
  const words: string[] = [];
  for (let j = from; j < to; j++) {
    const t = toks[j]!;
    if (t.kind === 'word' || t.kind === 'literal') words.push(t.text);
    else if (t.kind === 'special' && t.text !== ',') words.push(t.text);
  }
  return words.join(' ');
}

/** Parses one mailbox from i (name-addr or addr-spec), pushes it, returns the index after it. */
function mailbox(toks: Token[], i: number, out: EnvelopeAddress[], inGroup: boolean): number {
  let j = i;
  let angle = -1;
  while (j < toks.length && (angle >= 0 || (!isSpecial(toks[j], ',') && !(inGroup && isSpecial(toks[j], ';'))))) {
    if (angle < 0 && isSpecial(toks[j], '<')) angle = j;
    if (angle >= 0 && isSpecial(toks[j], '>')) { j++; break; }
    j++;
  }
  const angleEnd = j;
  const stop = skipToSeparator(toks, j, inGroup);
  if (toks.slice(i, j).some((t) => t.kind === 'word' && t.unterminated === true)) return Math.max(stop, i + 1); // dropped, as Dovecot
  let name: string | null;
  let specFrom: number;
  let specTo: number;
  if (angle >= 0) {
    name = phrase(toks, i, angle) || null;
    specFrom = angle + 1;
    specTo = angleEnd > specFrom && isSpecial(toks[angleEnd - 1], '>') ? angleEnd - 1 : angleEnd;
  } else {
    name = null;
    specFrom = i;
    specTo = stop;
  }
  let adl: string | null = null;
  const routeEnd = findRoute(toks, specFrom, specTo);
  if (routeEnd >= 0) {
    adl = routeText(toks, specFrom, routeEnd);
    specFrom = routeEnd + 1;
  }
  const spec = addrSpec(toks, specFrom, specTo);
  if (name === null && spec.comment !== null) name = spec.comment;
  if (angle < 0 && spec.local === '' && spec.domain === '') return Math.max(stop, i + 1);
  if (angle < 0 && !spec.atSeen && spec.words > 1) {
    // Words without '@' or '<...>': a display name without an address (Dovecot's reading).
    out.push({ name: phrase(toks, specFrom, specTo), adl: null, mailbox: missingMailbox, host: missingDomain });
    return Math.max(stop, i + 1);
  }
  out.push({ name, adl, mailbox: spec.local || missingMailbox, host: spec.domain || missingDomain });
  return Math.max(stop, i + 1);
}

/** After a mailbox: anything up to the next ',' (or a group's ';') is ignored, as Dovecot does. */
function skipToSeparator(toks: Token[], j: number, inGroup: boolean): number {
  while (j < toks.length && !isSpecial(toks[j], ',') && !(inGroup && isSpecial(toks[j], ';'))) j++;
  return j;
}

/** RFC 5322 obs-route `@a,@b:` inside angle brackets: index of its ':' or -1. */
function findRoute(toks: Token[], from: number, to: number): number {
  if (!isSpecial(toks[from], '@')) return -1;
  for (let j = from; j < to; j++) if (isSpecial(toks[j], ':')) return j;
  return -1;
}

function routeText(toks: Token[], from: number, to: number): string {
  let s = '';
  for (let j = from; j < to; j++) {
    const t = toks[j]!;
    if (t.kind !== 'comment') s += t.text;
  }
  return s;
}

interface AddrSpec { local: string; domain: string; comment: string | null; atSeen: boolean; words: number }

function addrSpec(toks: Token[], from: number, to: number): AddrSpec {
  const spec: AddrSpec = { local: '', domain: '', comment: null, atSeen: false, words: 0 };
  for (let j = from; j < to; j++) {
    const t = toks[j]!;
    if (t.kind === 'comment') { spec.comment = t.text.trim() || spec.comment; continue; } // the last comment, as Dovecot
    if (isSpecial(t, '@') && !spec.atSeen) { spec.atSeen = true; continue; }
    if (t.kind === 'special') continue;
    if (spec.atSeen) spec.domain += t.text;
    else { spec.local += t.text; spec.words++; }
  }
  return spec;
}
