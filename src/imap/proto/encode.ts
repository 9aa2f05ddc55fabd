// The response side of the grammar: strings as atoms, quoted strings or literals, NIL, lists, status lines
// with response codes, date-times. Pure: values in, bytes out.

import { imapQuotedBytesMax } from '../limits.ts';

/** A response under construction: text and literal bytes in order. */
export type Chunk = string | Uint8Array;

/** How strings may be written: IMAP4rev2 and UTF8=ACCEPT allow UTF-8 in quoted strings (RFC 9051 §4.3). */
export interface EncodeOptions {
  readonly utf8: boolean;
}

const quotable = /^[\x01-\x09\x0b\x0c\x0e-\x7f]*$/;

/** A string as quoted when it can be, else a literal: literal bytes are returned as a separate chunk. */
export function str(s: string | Uint8Array, o: EncodeOptions): Chunk[] {
  const text = typeof s === 'string' ? s : null;
  if (text !== null && text.length <= imapQuotedBytesMax) {
    if (quotable.test(text)) return [`"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`];
    if (o.utf8 && !/[\0\r\n]/.test(text)) return [`"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`];
  }
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return [`{${bytes.length}}\r\n`, bytes];
}

export function nstr(s: string | null | undefined, o: EncodeOptions): Chunk[] {
  return s === null || s === undefined ? ['NIL'] : str(s, o);
}

/** An astring: the atom itself when it is a plain atom (mailbox names look nicer so), else str(). */
export function astr(s: string, o: EncodeOptions): Chunk[] {
  if (/^[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|}~\][]+$/.test(s) && s.toUpperCase() !== 'NIL') return [s];
  return str(s, o);
}

/** Joins chunk lists with spaces inside parentheses. */
export function list(items: readonly Chunk[][]): Chunk[] {
  const out: Chunk[] = ['('];
  items.forEach((it, i) => {
    if (i > 0) out.push(' ');
    out.push(...it);
  });
  out.push(')');
  return out;
}

export function toBuffer(chunks: readonly Chunk[]): Buffer {
  return Buffer.concat(chunks.map((c) => (typeof c === 'string' ? Buffer.from(c, 'utf8') : c)));
}

const monthNames = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** RFC 9051 date-time in UTC: "dd-Mon-yyyy hh:mm:ss +0000". */
export function formatDateTime(ms: number): string {
  const d = new Date(ms);
  return `"${pad(d.getUTCDate())}-${monthNames[d.getUTCMonth()]}-${d.getUTCFullYear()} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000"`;
}

/** Text after a status or in a BYE: one line, no CR/LF, printable. */
export function text(s: string): string {
  return s.replace(/[\r\n\0]+/g, ' ').slice(0, 500) || 'done';
}

export type Status = 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH';

/** `tag STATUS [CODE] text` (tag `*` for untagged). */
export function statusLine(tag: string, status: Status, code: string | null, t: string): string {
  return `${tag} ${status} ${code ? `[${code}] ` : ''}${text(t)}\r\n`;
}

/** A flag list: `(\Seen $Label)`. */
export function flagList(flags: readonly string[]): string {
  return `(${flags.join(' ')})`;
}
