// Header blocks (RFC 5322 §2.2) as byte ranges: where each field starts and ends, where the body starts,
// plus the RFC 2045 structured-value lexer. Must not decode bodies or allocate per body byte.

import { mimeLimits } from './limits.ts';

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const TAB = 0x09;
const COLON = 0x3a;

/** One field: `start`..`end` are its exact bytes, continuation lines and final line break included. */
export interface HeaderField {
  /** Field name, lower case, trailing whitespace trimmed; '' for a line without a colon. */
  name: string;
  start: number;
  /** First byte after the colon (== end for a line without colon). */
  valueStart: number;
  end: number;
}

export interface HeaderBlock {
  fields: HeaderField[];
  /** First byte of the body: after the blank line, or where the header was cut off. */
  bodyStart: number;
  /** True when the block ended with a blank line (false: it ran into a boundary or the end). */
  blankLine: boolean;
}

/** Says whether the line at `lineStart` is a boundary line that ends the current entity. */
export type BoundaryTest = (lineStart: number, lineEnd: number) => boolean;

/**
 * Scans a header block from `start`, stopping at the blank line, at `end`, or before a line that
 * `isBoundary` claims. Fields past headerBytesMax/headerFieldsMax are not recorded (still skipped).
 */
export function scanHeader(buf: Uint8Array, start: number, end: number, isBoundary: BoundaryTest | null): HeaderBlock {
  const fields: HeaderField[] = [];
  const recordEnd = start + mimeLimits.headerBytesMax;
  let pos = start;
  let current: HeaderField | null = null;
  while (pos < end) {
    const nl = buf.indexOf(LF, pos);
    const lineEnd = nl < 0 || nl >= end ? end : nl + 1;
    const first = buf[pos]!;
    if (first === LF || (first === CR && (pos + 1 === end || buf[pos + 1] === LF))) {
      return { fields, bodyStart: lineEnd, blankLine: true };
    }
    if (isBoundary !== null && first === 0x2d && isBoundary(pos, lineEnd)) {
      return { fields, bodyStart: pos, blankLine: false };
    }
    if ((first === SP || first === TAB) && current !== null) {
      current.end = lineEnd; // folded continuation of the previous field
    } else if (pos < recordEnd && fields.length < mimeLimits.headerFieldsMax) {
      current = fieldAt(buf, pos, lineEnd);
      fields.push(current);
    } else {
      current = null;
    }
    pos = lineEnd;
  }
  return { fields, bodyStart: end, blankLine: false };
}

function fieldAt(buf: Uint8Array, start: number, lineEnd: number): HeaderField {
  let i = start;
  while (i < lineEnd && buf[i] !== COLON && buf[i] !== LF) i++;
  if (i >= lineEnd || buf[i] !== COLON) return { name: '', start, valueStart: lineEnd, end: lineEnd };
  let nameEnd = i;
  while (nameEnd > start && (buf[nameEnd - 1] === SP || buf[nameEnd - 1] === TAB)) nameEnd--;
  return { name: asciiLower(buf, start, nameEnd), start, valueStart: i + 1, end: lineEnd };
}

function asciiLower(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) {
    const c = buf[i]!;
    s += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 32 : c);
  }
  return s;
}

/**
 * The unfolded value of a field (RFC 5322 §2.2.3: CRLF before WSP removed), leading and trailing
 * whitespace trimmed, as UTF-8 (invalid bytes become U+FFFD), cut at `bytesMax` bytes.
 */
export function fieldValue(buf: Uint8Array, f: HeaderField, bytesMax: number = mimeLimits.valueBytesMax): string {
  let start = f.valueStart;
  let end = Math.min(f.end, f.valueStart + bytesMax);
  while (start < end && isWsp(buf[start]!)) start++;
  while (end > start && (isWsp(buf[end - 1]!) || buf[end - 1] === LF || buf[end - 1] === CR)) end--;
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let folded = false;
  for (let i = start; i < end && !folded; i++) folded = b[i] === LF || b[i] === CR;
  if (!folded) return b.toString('utf8', start, end);
  // Folded (or stray CR): drop the line breaks, keep the whitespace that follows them.
  let out = '';
  let from = start;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c !== LF && c !== CR) continue;
    out += b.toString('utf8', from, i);
    from = i + 1;
  }
  return out + b.toString('utf8', from, end);
}

function isWsp(c: number): boolean {
  return c === SP || c === TAB;
}

/** First field with this lower-case name, or null. */
export function firstField(fields: HeaderField[], name: string): HeaderField | null {
  for (const f of fields) if (f.name === name) return f;
  return null;
}

// ---- RFC 2045 §5.1 / RFC 2183 structured values: token/token *(";" attribute "=" value) ----

const TSPECIALS = '()<>@,;:\\"/[]?=';

function isTokenChar(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return c > 0x20 && c !== 0x7f && !TSPECIALS.includes(ch);
}

/** Skips whitespace and (nested) comments from i. */
export function skipCfws(s: string, i: number): number {
  for (;;) {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\r' || s[i] === '\n')) i++;
    if (s[i] !== '(') return i;
    let depth = 0;
    for (; i < s.length; i++) {
      if (s[i] === '\\') { i++; continue; }
      if (s[i] === '(') depth++;
      else if (s[i] === ')' && --depth === 0) { i++; break; }
    }
  }
}

function readToken(s: string, i: number): [string, number] {
  const start = i;
  while (i < s.length && isTokenChar(s[i]!)) i++;
  return [s.slice(start, i), i];
}

/** Reads a quoted-string at s[i] === '"'; returns the unescaped content (unterminated: to the end). */
export function readQuoted(s: string, i: number): [string, number] {
  let out = '';
  for (i++; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && i + 1 < s.length) { out += s[++i]; continue; }
    if (ch === '"') return [out, i + 1];
    out += ch;
  }
  return [out, i];
}

export interface StructuredValue {
  /** The leading value ('text/plain', 'attachment'), lower case, '' when missing. */
  value: string;
  params: [string, string][];
}

/** Parses `value *(; name=value)` leniently; parameters past paramsMax are dropped. */
export function parseStructured(s: string, withSlash: boolean): StructuredValue {
  let i = skipCfws(s, 0);
  let [value, j] = readToken(s, i);
  i = skipCfws(s, j);
  if (withSlash && s[i] === '/') {
    const [sub, k] = readToken(s, skipCfws(s, i + 1));
    value = sub === '' ? '' : `${value}/${sub}`;
    i = k;
  } else if (withSlash) {
    value = '';
  }
  const raw: [string, string][] = [];
  while (i < s.length && raw.length < mimeLimits.paramsMax * 4) {
    const semi = s.indexOf(';', i);
    if (semi < 0) break;
    i = skipCfws(s, semi + 1);
    const [name, k] = readToken(s, i);
    i = skipCfws(s, k);
    if (name === '' || s[i] !== '=') continue;
    i = skipCfws(s, i + 1);
    let v: string;
    if (s[i] === '"') [v, i] = readQuoted(s, i);
    else [v, i] = readToken(s, i);
    raw.push([name.toLowerCase(), v]);
  }
  return { value: value.toLowerCase(), params: joinContinuations(raw) };
}

/**
 * RFC 2231 §3: `name*0`, `name*1`... are joined into `name`; `name*0*`... into `name*` (still
 * charset''percent-encoded, left raw). Duplicates keep the first; at most paramsMax.
 */
function joinContinuations(raw: [string, string][]): [string, string][] {
  if (!raw.some(([n]) => n.includes('*'))) return raw.slice(0, mimeLimits.paramsMax);
  // Dovecot lists plain parameters first, then the RFC 2231 ones.
  raw = [...raw.filter(([n]) => !n.includes('*')), ...raw.filter(([n]) => n.includes('*'))];
  const out: [string, string][] = [];
  const index = new Map<string, number>();
  for (const [name, v] of raw) {
    const m = /^(.+?)\*(\d+)(\*?)$/.exec(name);
    const key = m === null ? name : m[1]! + (m[2] === '0' ? m[3]! : raw.some(([n]) => n === `${m[1]}*0*`) ? '*' : '');
    const at = index.get(key);
    if (at === undefined) {
      if (out.length >= mimeLimits.paramsMax) continue;
      if (m !== null && m[2] !== '0') continue; // a continuation without its *0 start
      index.set(key, out.length);
      out.push([key, v]);
    } else if (m !== null && m[2] !== '0') {
      out[at]![1] += v;
    }
  }
  return out;
}
