// FETCH BODY[section] and BINARY[section] bytes (RFC 9051 §6.4.5, RFC 3516) from a message and its summary.
// Must not re-parse the MIME tree (the summary has the offsets) nor produce IMAP syntax.

import { scanHeader } from './header.ts';
import { decodeTransfer } from './transfer.ts';
import type { BodyPart, MessageSummary, SectionSpec } from './types.ts';

const EMPTY = new Uint8Array(0);
const CRLF = new Uint8Array([0x0d, 0x0a]);

function isMessagePart(p: BodyPart): boolean {
  return p.type === 'message' && p.subtype === 'rfc822' && p.children.length === 1;
}

/**
 * The part a numeric path names (RFC 9051 §6.4.5), or null. As in Dovecot: in a non-multipart entity
 * only number 1 exists (the entity itself); a message/rfc822 part followed by more numbers is entered.
 */
export function resolvePart(root: BodyPart, path: readonly number[]): BodyPart | null {
  let cur: BodyPart | undefined = root;
  for (let i = 0; i < path.length; i++) {
    const n = path[i]!;
    if (cur.type === 'multipart') cur = cur.children[n - 1];
    else if (n !== 1) return null;
    if (cur === undefined) return null;
    if (i < path.length - 1 && isMessagePart(cur)) cur = cur.children[0]!;
  }
  return cur;
}

function slice(message: Uint8Array, start: number, end: number): Uint8Array {
  const s = Math.min(Math.max(0, start), message.length);
  return message.subarray(s, Math.min(Math.max(s, end), message.length));
}

/**
 * The bytes of a section; an absent part gives empty bytes (as Dovecot does). Most results are views
 * into `message` (no copy): callers must not modify them.
 */
export function extractSection(message: Uint8Array, summary: MessageSummary, spec: SectionSpec): Uint8Array {
  const top = summary.body;
  if (spec.part.length === 0) {
    switch (spec.kind) {
      case '': return message;
      case 'MIME': return EMPTY; // RFC 9051: MIME needs a part number
      case 'TEXT': return slice(message, top.bodyStart, message.length);
      default: return headerSection(message, 0, top.bodyStart, spec);
    }
  }
  const p = resolvePart(top, spec.part);
  if (p === null) return EMPTY;
  if (spec.kind === '') return slice(message, p.bodyStart, p.end);
  if (spec.kind === 'MIME') return slice(message, p.headerStart, p.bodyStart);
  // HEADER/TEXT of a message/rfc822 part are those of the encapsulated message; elsewhere the part's own.
  const m = isMessagePart(p) ? p.children[0]! : p;
  if (spec.kind === 'TEXT') return slice(message, m.bodyStart, m.end);
  return headerSection(message, m.headerStart, m.bodyStart, spec);
}

/** HEADER: the block as is. HEADER.FIELDS(.NOT): the exact lines of the (not) named fields, then CRLF. */
function headerSection(message: Uint8Array, start: number, end: number, spec: SectionSpec): Uint8Array {
  if (spec.kind === 'HEADER') return slice(message, start, end);
  const names = new Set((spec.fields ?? []).map((f) => f.toLowerCase()));
  const want = spec.kind === 'HEADER.FIELDS';
  const block = scanHeader(message, start, Math.min(end, message.length), null);
  const pieces: Uint8Array[] = [];
  let total = 0;
  for (const f of block.fields) {
    if (names.has(f.name) !== want || (want && f.name === '')) continue;
    const bytes = message.subarray(f.start, f.end);
    pieces.push(bytes);
    total += bytes.length;
    if (bytes[bytes.length - 1] !== 0x0a) { pieces.push(CRLF); total += 2; }
  }
  pieces.push(CRLF);
  total += 2;
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of pieces) { out.set(p, o); o += p.length; }
  return out;
}

/**
 * RFC 3516 BINARY[part]: the part's body with its Content-Transfer-Encoding removed; throws
 * MimeError('UNKNOWN_CTE') for an encoding it cannot decode. [] is the whole message as is.
 */
export function decodeBinarySection(message: Uint8Array, summary: MessageSummary, part: number[]): Uint8Array {
  if (part.length === 0) return message;
  const p = resolvePart(summary.body, part);
  if (p === null) return EMPTY;
  return decodeTransfer(slice(message, p.bodyStart, p.end), p.encoding);
}
