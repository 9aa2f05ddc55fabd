// FETCH attribute grammar (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ/CHANGEDSINCE, RFC 8474):
// attributes, macros, sections with partials, and modifiers. Pure; data for each item comes from commands/fetch.ts.

import { imapFetchItemsMax } from '../limits.ts';
import { ParseError, type Reader } from './reader.ts';

export type SectionKind = '' | 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

export interface Section {
  readonly part: readonly number[];
  readonly kind: SectionKind;
  readonly fields: readonly string[];
}

export type Simple = 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODY' | 'BODYSTRUCTURE' | 'UID' | 'MODSEQ' | 'EMAILID' | 'THREADID';

export type FetchItem =
  | { readonly k: 'simple'; readonly name: Simple }
  /** BODY[...], BODY.PEEK[...], RFC822 (= BODY[]), RFC822.HEADER (= BODY.PEEK[HEADER]), RFC822.TEXT (= BODY[TEXT]). */
  | { readonly k: 'section'; readonly peek: boolean; readonly section: Section; readonly partial: readonly [number, number] | null; readonly label: string | null }
  | { readonly k: 'binary'; readonly peek: boolean; readonly part: readonly number[]; readonly partial: readonly [number, number] | null }
  | { readonly k: 'binarySize'; readonly part: readonly number[] };

export interface FetchModifiers {
  readonly changedSince: bigint | null;
  readonly vanished: boolean;
}

const simple = new Set<string>(['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY', 'BODYSTRUCTURE', 'UID', 'MODSEQ', 'EMAILID', 'THREADID']);

const macros: Record<string, Simple[]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

function word(r: Reader): string {
  const start = r.pos;
  for (;;) {
    const c = r.peek();
    const ok = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e;
    if (!ok) break;
    r.pos++;
  }
  if (r.pos === start) r.fail('fetch attribute');
  return r.buf.toString('latin1', start, r.pos).toUpperCase();
}

function partNumbers(r: Reader): number[] {
  const part: number[] = [];
  while (r.peek() >= 0x30 && r.peek() <= 0x39) {
    part.push(r.nzNumber());
    if (!r.eat('.')) break;
  }
  return part;
}

function parseSection(r: Reader): Section {
  r.expect('[');
  const part = partNumbers(r);
  let kind: SectionKind = '';
  let fields: string[] = [];
  if (r.peek() !== 0x5d) {
    const w = word(r);
    if (w === 'HEADER' || w === 'TEXT' || w === 'MIME' || w === 'HEADER.FIELDS' || w === 'HEADER.FIELDS.NOT') kind = w;
    else throw new ParseError(`unknown section ${w}`);
    if (kind === 'MIME' && part.length === 0) throw new ParseError('MIME needs a part number');
    if (kind === 'HEADER.FIELDS' || kind === 'HEADER.FIELDS.NOT') {
      r.sp();
      fields = r.list(() => r.astring(), false);
    }
  }
  r.expect(']');
  return { part, kind, fields };
}

function parsePartial(r: Reader): [number, number] | null {
  if (!r.eat('<')) return null;
  const origin = r.number();
  r.expect('.');
  const length = r.nzNumber();
  r.expect('>');
  return [origin, length];
}

function parseBinaryPart(r: Reader): number[] {
  r.expect('[');
  const part = partNumbers(r);
  r.expect(']');
  return part;
}

function item(r: Reader): FetchItem[] {
  const w = word(r);
  if ((w === 'BODY' || w === 'BODY.PEEK') && r.peek() === 0x5b) {
    return [{ k: 'section', peek: w === 'BODY.PEEK', section: parseSection(r), partial: parsePartial(r), label: null }];
  }
  if (w === 'BINARY' || w === 'BINARY.PEEK') return [{ k: 'binary', peek: w === 'BINARY.PEEK', part: parseBinaryPart(r), partial: parsePartial(r) }];
  if (w === 'BINARY.SIZE') return [{ k: 'binarySize', part: parseBinaryPart(r) }];
  if (w === 'RFC822') return [{ k: 'section', peek: false, section: { part: [], kind: '', fields: [] }, partial: null, label: 'RFC822' }];
  if (w === 'RFC822.HEADER') return [{ k: 'section', peek: true, section: { part: [], kind: 'HEADER', fields: [] }, partial: null, label: 'RFC822.HEADER' }];
  if (w === 'RFC822.TEXT') return [{ k: 'section', peek: false, section: { part: [], kind: 'TEXT', fields: [] }, partial: null, label: 'RFC822.TEXT' }];
  if (simple.has(w)) return [{ k: 'simple', name: w as Simple }];
  throw new ParseError(`unknown fetch attribute ${w}`);
}

/** `ALL` / `FAST` / `FULL` / one attribute / a parenthesized list of attributes. */
export function parseFetchItems(r: Reader): FetchItem[] {
  if (r.peek() === 0x28) {
    const lists = r.list(() => item(r), false);
    if (lists.length > imapFetchItemsMax) throw new ParseError(`more than ${imapFetchItemsMax} fetch attributes`);
    return lists.flat();
  }
  const save = r.pos;
  const w = word(r);
  const macro = macros[w];
  if (macro && r.peek() !== 0x5b) return macro.map((name) => ({ k: 'simple', name }));
  r.pos = save;
  return item(r);
}

/** RFC 7162 §3.1.4 / §3.2.6: ` (CHANGEDSINCE n [VANISHED])`. */
export function parseFetchModifiers(r: Reader): FetchModifiers {
  let changedSince: bigint | null = null;
  let vanished = false;
  if (!r.maybeSp()) return { changedSince, vanished };
  r.list(() => {
    const m = r.keyword();
    if (m === 'CHANGEDSINCE') {
      r.sp();
      changedSince = r.number64();
    } else if (m === 'VANISHED') vanished = true;
    else throw new ParseError(`unknown FETCH modifier ${m}`);
  }, false);
  if (vanished && changedSince === null) throw new ParseError('VANISHED needs CHANGEDSINCE');
  return { changedSince, vanished };
}

/** The section as echoed in the response: BODY[1.2.HEADER.FIELDS (A B)]. */
export function sectionLabel(s: Section): string {
  const parts = s.part.join('.');
  const text = s.kind === '' ? '' : s.kind;
  const spec = parts && text ? `${parts}.${text}` : parts || text;
  const fields = s.fields.length > 0 ? ` (${s.fields.map((f) => f.toUpperCase()).join(' ')})` : '';
  return `[${spec}${fields}]`;
}
