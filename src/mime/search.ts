// SEARCH text matching (RFC 9051 §6.4.4): substring match after RFC 2047, transfer and charset decoding,
// compared under i;unicode-casemap-like folding. Must not touch the store; bounded per part (limits.ts).

import { decode as decodeCharset } from 'libmime/lib/charset.js';
import { fieldValue, scanHeader } from './header.ts';
import { mimeLimits } from './limits.ts';
import { decodeWords } from './summary.ts';
import { decodeTransfer } from './transfer.ts';
import type { BodyPart, MessageSummary } from './types.ts';

/**
 * Case-insensitive canonical form for comparisons, after RFC 5051 i;unicode-casemap: compatibility
 * decomposition (NFKD) and simple case folding (lower case, final sigma and long s folded).
 */
export function unicodeCasemap(s: string): string {
  return s.normalize('NFKD').toLowerCase().replace(/ς/g, 'σ').replace(/ſ/g, 's');
}

/** The decoded (RFC 2047) unfolded values of every field named `field` in the top-level header. */
function headerValues(message: Uint8Array, summary: MessageSummary, field: string): string[] {
  const name = field.toLowerCase();
  const block = scanHeader(message, 0, Math.min(summary.body.bodyStart, message.length), null);
  const out: string[] = [];
  for (const f of block.fields) if (f.name === name) out.push(decodeWords(fieldValue(message, f)));
  return out;
}

/** SEARCH HEADER/FROM/TO/CC/BCC/SUBJECT: needle '' means the field exists (RFC 9051 §6.4.4). */
export function headerMatches(message: Uint8Array, summary: MessageSummary, field: string, needle: string): boolean {
  const values = headerValues(message, summary, field);
  if (needle === '') return values.length > 0;
  const want = unicodeCasemap(needle);
  return values.some((v) => unicodeCasemap(v).includes(want));
}

/** SEARCH BODY: the decoded text/* parts (message/rfc822 bodies entered, their headers not). */
export function bodyMatches(message: Uint8Array, summary: MessageSummary, needle: string): boolean {
  const want = unicodeCasemap(needle);
  if (want === '') return true;
  return someText(message, summary.body, false, (t) => unicodeCasemap(t).includes(want));
}

/** SEARCH TEXT: the message header and the body, with the headers of encapsulated messages. */
export function textMatches(message: Uint8Array, summary: MessageSummary, needle: string): boolean {
  const want = unicodeCasemap(needle);
  if (want === '') return true;
  const match = (t: string) => unicodeCasemap(t).includes(want);
  return match(headerText(message, 0, summary.body.bodyStart)) || someText(message, summary.body, true, match);
}

/** Offers each text leaf's decoded content (and, with `withHeaders`, encapsulated headers) to `match`. */
function someText(message: Uint8Array, p: BodyPart, withHeaders: boolean, match: (text: string) => boolean): boolean {
  if (p.type === 'message' && p.subtype === 'rfc822' && p.children.length === 1) {
    const inner = p.children[0]!;
    if (withHeaders && match(headerText(message, inner.headerStart, inner.bodyStart))) return true;
    return someText(message, inner, withHeaders, match);
  }
  if (p.children.length > 0) return p.children.some((c) => someText(message, c, withHeaders, match));
  return p.type === 'text' && match(partText(message, p));
}

/** A header block as decoded text: one line per field, encoded-words decoded. */
function headerText(message: Uint8Array, start: number, end: number): string {
  const block = scanHeader(message, start, Math.min(end, message.length), null);
  return block.fields.map((f) => (f.name === '' ? '' : `${f.name}: ${decodeWords(fieldValue(message, f))}`)).join('\n');
}

/** A text part's content as a string: transfer decoding, then its charset (UTF-8 by default). */
export function partText(message: Uint8Array, p: BodyPart): string {
  const end = Math.min(p.end, p.bodyStart + mimeLimits.searchPartBytesMax * 2, message.length);
  let bytes = message.subarray(Math.min(p.bodyStart, end), end);
  try {
    bytes = decodeTransfer(bytes, p.encoding);
  } catch {
    // Unknown transfer encoding: search the bytes as they are.
  }
  bytes = bytes.subarray(0, mimeLimits.searchPartBytesMax);
  const charset = p.params.find(([n]) => n === 'charset')?.[1] ?? 'utf-8';
  try {
    return decodeCharset(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), charset);
  } catch {
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  }
}
