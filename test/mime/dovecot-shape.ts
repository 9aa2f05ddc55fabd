// Turns IMAP BODYSTRUCTURE/ENVELOPE (as Dovecot prints them) and our BodyPart/Envelope into one
// comparable plain-data shape, so tests compare data rather than IMAP syntax.

import type { BodyPart, Envelope, EnvelopeAddress } from '../../src/mime/index.ts';

export type Sexp = string | number | null | Sexp[];

/** Parses one IMAP value list: atoms, NIL, numbers, quoted strings, literals, parentheses. */
export function parseSexp(src: Buffer, pos: { i: number }): Sexp {
  const skip = () => { while (src[pos.i] === 0x20) pos.i++; };
  skip();
  const c = src[pos.i];
  if (c === 0x28) {
    pos.i++;
    const out: Sexp[] = [];
    for (;;) {
      skip();
      if (src[pos.i] === 0x29) { pos.i++; return out; }
      if (pos.i >= src.length) throw new Error('unterminated list');
      out.push(parseSexp(src, pos));
    }
  }
  if (c === 0x22) {
    const bytes: number[] = [];
    for (pos.i++; src[pos.i] !== 0x22; pos.i++) {
      if (src[pos.i] === 0x5c) pos.i++;
      bytes.push(src[pos.i]!);
    }
    pos.i++;
    return Buffer.from(bytes).toString('utf8');
  }
  if (c === 0x7b) {
    const close = src.indexOf(0x7d, pos.i);
    const n = Number(src.subarray(pos.i + 1, close).toString());
    const start = close + 3; // }\r\n
    pos.i = start + n;
    return src.subarray(start, start + n).toString('utf8');
  }
  const start = pos.i;
  while (pos.i < src.length && ![0x20, 0x28, 0x29, 0x0d, 0x0a].includes(src[pos.i]!)) pos.i++;
  const atom = src.subarray(start, pos.i).toString();
  if (atom === 'NIL') return null;
  if (/^\d+$/.test(atom)) return Number(atom);
  return atom;
}

export interface Shape {
  type: string; subtype: string; params: [string, string][] | null;
  id: string | null; description: string | null; encoding: string; size: number; lines: number | null;
  md5: string | null; disposition: [string, [string, string][] | null] | null; language: string[] | null;
  location: string | null; envelope: EnvelopeShape | null; children: Shape[];
}
export type AddrShape = [string | null, string | null, string | null, string | null];
export type EnvelopeShape = [string | null, string | null, AddrShape[] | null, AddrShape[] | null, AddrShape[] | null,
  AddrShape[] | null, AddrShape[] | null, AddrShape[] | null, string | null, string | null];

function pairsOf(x: Sexp): [string, string][] | null {
  if (!Array.isArray(x) || x.length === 0) return null;
  const out: [string, string][] = [];
  for (let i = 0; i < x.length; i += 2) out.push([String(x[i]).toLowerCase(), String(x[i + 1])]);
  return out;
}

function str(x: Sexp | undefined): string | null {
  return x === null || x === undefined ? null : String(x);
}

export function envelopeFromSexp(x: Sexp): EnvelopeShape {
  const a = x as Sexp[];
  const addrs = (v: Sexp | undefined): AddrShape[] | null =>
    Array.isArray(v) ? v.map((e) => (e as Sexp[]).map((f) => str(f)) as AddrShape) : null;
  return [str(a[0]), str(a[1]), addrs(a[2]), addrs(a[3]), addrs(a[4]), addrs(a[5]), addrs(a[6]), addrs(a[7]), str(a[8]), str(a[9])];
}

function extension(shape: Shape, ext: Sexp[]): void {
  const [disp, lang, loc] = ext;
  shape.disposition = Array.isArray(disp) ? [String(disp[0]).toLowerCase(), pairsOf(disp[1] ?? null)] : null;
  shape.language = lang === null || lang === undefined ? null : Array.isArray(lang) ? lang.map(String) : [String(lang)];
  shape.location = str(loc);
}

/** BODYSTRUCTURE sexp (with extension data) to Shape. */
export function shapeFromSexp(x: Sexp): Shape {
  const a = x as Sexp[];
  const base: Shape = { type: '', subtype: '', params: null, id: null, description: null, encoding: '', size: 0, lines: null,
    md5: null, disposition: null, language: null, location: null, envelope: null, children: [] };
  if (Array.isArray(a[0])) {
    let i = 0;
    while (Array.isArray(a[i])) base.children.push(shapeFromSexp(a[i++]!));
    base.type = 'multipart';
    base.subtype = String(a[i]).toLowerCase();
    base.params = pairsOf(a[i + 1] ?? null);
    base.encoding = '';
    base.size = 0;
    extension(base, a.slice(i + 2));
    return base;
  }
  base.type = String(a[0]).toLowerCase();
  base.subtype = String(a[1]).toLowerCase();
  base.params = pairsOf(a[2] ?? null);
  base.id = str(a[3]);
  base.description = str(a[4]);
  base.encoding = String(a[5]).toLowerCase();
  base.size = Number(a[6]);
  let i = 7;
  if (base.type === 'message' && base.subtype === 'rfc822') {
    base.envelope = envelopeFromSexp(a[7]!);
    base.children.push(shapeFromSexp(a[8]!));
    base.lines = Number(a[9]);
    i = 10;
  } else if (base.type === 'text') {
    base.lines = Number(a[7]);
    i = 8;
  }
  base.md5 = str(a[i]);
  extension(base, a.slice(i + 1));
  return base;
}

function addrShape(list: EnvelopeAddress[] | null): AddrShape[] | null {
  return list === null ? null : list.map((a) => [a.name, a.adl, a.mailbox, a.host]);
}

export function envelopeShape(e: Envelope): EnvelopeShape {
  return [e.date, e.subject, addrShape(e.from), addrShape(e.sender), addrShape(e.replyTo), addrShape(e.to),
    addrShape(e.cc), addrShape(e.bcc), e.inReplyTo, e.messageId];
}

/** Our BodyPart to Shape (multipart containers carry no encoding/size in BODYSTRUCTURE). */
export function shapeFromPart(p: BodyPart): Shape {
  const multi = p.type === 'multipart';
  return {
    type: p.type, subtype: p.subtype, params: p.params.length === 0 ? null : p.params.map(([k, v]) => [k.toLowerCase(), v]),
    id: multi ? null : p.id, description: multi ? null : p.description, encoding: multi ? '' : p.encoding,
    size: multi ? 0 : p.size, lines: multi ? null : p.lines, md5: multi ? null : p.md5,
    disposition: p.disposition === null ? null : [p.disposition.type, p.disposition.params.length === 0 ? null : p.disposition.params],
    language: p.language, location: p.location,
    envelope: p.envelope === null ? null : envelopeShape(p.envelope),
    children: p.children.map(shapeFromPart),
  };
}
