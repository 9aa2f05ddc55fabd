// Command-level grammar (RFC 9051 §6 and extensions): the arguments of each command as typed values.
// Pure: a Reader positioned after the command name in, arguments or ParseError out.

import { imapListPatternCharsMax, imapListPatternsMax, imapMultiAppendMessagesMax } from '../limits.ts';
import { type FetchItem, type FetchModifiers, parseFetchItems, parseFetchModifiers } from './fetch.ts';
import { decodeMutf7 } from './mutf7.ts';
import { ParseError, type Reader, decodeUtf8 } from './reader.ts';
import { type SearchKey, type SearchProgram, parseSearchKeys, parseSearchProgram } from './search.ts';
import { type SequenceSet, parseSequenceSet } from './sequence.ts';

/** Parsing depends on what the session enabled: UTF-8 mailbox names (IMAP4rev2) or modified UTF-7. */
export interface ParseOptions {
  readonly utf8: boolean;
}

export function mailbox(r: Reader, o: ParseOptions): string {
  const name = r.astring();
  const n = o.utf8 ? name : decodeMutf7(name);
  return n.toUpperCase() === 'INBOX' ? 'INBOX' : n;
}

export function none(r: Reader): null {
  r.end();
  return null;
}

export interface LoginArgs {
  readonly user: string;
  readonly password: string;
}

export function login(r: Reader): LoginArgs {
  r.sp();
  const user = r.astring();
  r.sp();
  const password = r.astring();
  r.end();
  return { user, password };
}

export interface AuthenticateArgs {
  readonly mechanism: string;
  /** SASL-IR (RFC 4959): base64, or "=" for an empty response; null when absent. */
  readonly initial: string | null;
}

export function authenticate(r: Reader): AuthenticateArgs {
  r.sp();
  const mechanism = r.keyword();
  let initial: string | null = null;
  if (r.maybeSp()) initial = r.eat('=') ? '=' : r.atom();
  r.end();
  return { mechanism, initial };
}

export function atoms(r: Reader): string[] {
  const out: string[] = [];
  while (r.maybeSp()) out.push(r.atom().toUpperCase());
  r.end();
  if (out.length === 0) throw new ParseError('at least one capability expected');
  return out;
}

export function id(r: Reader): [string, string | null][] | null {
  r.sp();
  if (r.peekKeyword() === 'NIL') {
    r.keyword();
    r.end();
    return null;
  }
  const flat = r.list(() => r.nstring());
  r.end();
  const pairs: [string, string | null][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pairs.push([flat[i] ?? '', flat[i + 1] ?? null]);
  return pairs;
}

export function oneMailbox(r: Reader, o: ParseOptions): string {
  r.sp();
  const m = mailbox(r, o);
  r.end();
  return m;
}

export function twoMailboxes(r: Reader, o: ParseOptions): { from: string; to: string } {
  r.sp();
  const from = mailbox(r, o);
  r.sp();
  const to = mailbox(r, o);
  r.end();
  return { from, to };
}

export interface ListArgs {
  readonly reference: string;
  readonly patterns: readonly string[];
  readonly select: ReadonlySet<string>;
  readonly returns: ReadonlySet<string>;
  readonly statusItems: readonly string[] | null;
  /** True when the command used LIST-EXTENDED syntax (selection or return options, several patterns). */
  readonly extended: boolean;
}

export function list(r: Reader, o: ParseOptions): ListArgs {
  r.sp();
  let select = new Set<string>();
  let extended = false;
  if (r.peek() === 0x28) {
    select = new Set(r.list(() => r.keyword()));
    extended = true;
    r.sp();
  }
  const reference = o.utf8 ? r.astring() : decodeMutf7(r.astring());
  r.sp();
  let patterns: string[];
  if (r.peek() === 0x28) {
    patterns = r.list(() => r.listMailbox(), false);
    extended = true;
  } else patterns = [r.listMailbox()];
  if (patterns.length > imapListPatternsMax) throw new ParseError(`more than ${imapListPatternsMax} patterns`);
  if (patterns.some((p) => p.length > imapListPatternCharsMax) || reference.length > imapListPatternCharsMax) throw new ParseError('pattern too long');
  if (!o.utf8) patterns = patterns.map(decodeMutf7);
  const returns = new Set<string>();
  let statusItems: string[] | null = null;
  if (r.maybeSp()) {
    if (r.keyword() !== 'RETURN') r.fail('RETURN');
    r.sp();
    r.list(() => {
      const opt = r.keyword();
      returns.add(opt);
      if (opt === 'STATUS') {
        r.sp();
        statusItems = r.list(() => r.keyword(), false);
      }
    });
    extended = true;
  }
  r.end();
  return { reference, patterns, select, returns, statusItems, extended };
}

export function status(r: Reader, o: ParseOptions): { mailbox: string; items: string[] } {
  r.sp();
  const m = mailbox(r, o);
  r.sp();
  const items = r.list(() => r.keyword(), false);
  r.end();
  return { mailbox: m, items };
}

export interface QresyncParams {
  readonly uidValidity: number;
  readonly modSeq: bigint;
  readonly knownUids: SequenceSet | null;
}

export interface SelectArgs {
  readonly mailbox: string;
  readonly condstore: boolean;
  readonly qresync: QresyncParams | null;
}

export function select(r: Reader, o: ParseOptions): SelectArgs {
  r.sp();
  const m = mailbox(r, o);
  let condstore = false;
  let qresync: QresyncParams | null = null;
  if (r.maybeSp()) {
    r.list(() => {
      const p = r.keyword();
      if (p === 'CONDSTORE') condstore = true;
      else if (p === 'QRESYNC') {
        r.sp();
        qresync = qresyncParams(r);
      } else throw new ParseError(`unknown SELECT parameter ${p}`);
    });
  }
  r.end();
  return { mailbox: m, condstore, qresync };
}

function qresyncParams(r: Reader): QresyncParams {
  r.expect('(');
  const uidValidity = r.nzNumber();
  r.sp();
  const modSeq = r.number64();
  let knownUids: SequenceSet | null = null;
  if (r.maybeSp()) {
    if (r.peek() !== 0x28) {
      knownUids = parseSequenceSet(r);
      r.maybeSp();
    }
    if (r.peek() === 0x28) {
      // seq-match-data: accepted and not needed (we answer from the known UIDs alone, RFC 7162 §3.2.5).
      r.list(() => parseSequenceSet(r));
    }
  }
  r.expect(')');
  return { uidValidity, modSeq, knownUids };
}

export interface AppendMessage {
  readonly flags: readonly string[];
  readonly date: number | null;
  readonly bytes: Buffer;
}

export function append(r: Reader, o: ParseOptions): { mailbox: string; messages: AppendMessage[] } {
  r.sp();
  const m = mailbox(r, o);
  const messages: AppendMessage[] = [];
  while (r.maybeSp()) {
    if (messages.length >= imapMultiAppendMessagesMax) throw new ParseError(`at most ${imapMultiAppendMessagesMax} messages per APPEND`);
    let flags: string[] = [];
    let date: number | null = null;
    if (r.peek() === 0x28) {
      flags = r.list(() => r.flag());
      r.sp();
    }
    if (r.peek() === 0x22) {
      date = r.dateTime();
      r.sp();
    }
    if (r.peekKeyword() === 'UTF8') {
      r.keyword();
      r.sp();
      r.expect('(');
      messages.push({ flags, date, bytes: r.literal(true) });
      r.expect(')');
    } else messages.push({ flags, date, bytes: r.literal(true) });
  }
  r.end();
  if (messages.length === 0) throw new ParseError('message literal expected');
  return { mailbox: m, messages };
}

export interface StoreArgs {
  readonly set: SequenceSet;
  readonly unchangedSince: bigint | null;
  readonly op: 'add' | 'remove' | 'replace';
  readonly silent: boolean;
  readonly flags: readonly string[];
}

export function store(r: Reader): StoreArgs {
  r.sp();
  const set = parseSequenceSet(r);
  r.sp();
  let unchangedSince: bigint | null = null;
  if (r.peek() === 0x28) {
    r.list(() => {
      if (r.keyword() !== 'UNCHANGEDSINCE') r.fail('UNCHANGEDSINCE');
      r.sp();
      unchangedSince = r.number64();
    });
    r.sp();
  }
  const op = r.eat('+') ? 'add' : r.eat('-') ? 'remove' : 'replace';
  const item = r.keyword();
  if (item !== 'FLAGS' && item !== 'FLAGS.SILENT') throw new ParseError('FLAGS or FLAGS.SILENT expected');
  r.sp();
  let flags: string[];
  if (r.peek() === 0x28) flags = r.list(() => r.flag());
  else {
    flags = [r.flag()];
    while (r.maybeSp()) flags.push(r.flag());
  }
  r.end();
  return { set, unchangedSince, op, silent: item === 'FLAGS.SILENT', flags };
}

export function copy(r: Reader, o: ParseOptions): { set: SequenceSet; mailbox: string } {
  r.sp();
  const set = parseSequenceSet(r);
  r.sp();
  const m = mailbox(r, o);
  r.end();
  return { set, mailbox: m };
}

export function fetch(r: Reader): { set: SequenceSet; items: FetchItem[]; modifiers: FetchModifiers } {
  r.sp();
  const set = parseSequenceSet(r);
  r.sp();
  const items = parseFetchItems(r);
  const modifiers = parseFetchModifiers(r);
  r.end();
  return { set, items, modifiers };
}

export function search(r: Reader): SearchProgram {
  r.sp();
  return parseSearchProgram(r, true);
}

export function sequenceSet(r: Reader): SequenceSet {
  r.sp();
  const s = parseSequenceSet(r);
  r.end();
  return s;
}

export type SortKey = 'ARRIVAL' | 'CC' | 'DATE' | 'FROM' | 'SIZE' | 'SUBJECT' | 'TO' | 'DISPLAYFROM' | 'DISPLAYTO';
const sortKeys = new Set(['ARRIVAL', 'CC', 'DATE', 'FROM', 'SIZE', 'SUBJECT', 'TO', 'DISPLAYFROM', 'DISPLAYTO']);

export interface SortArgs {
  readonly criteria: readonly { key: SortKey; reverse: boolean }[];
  readonly charset: string;
  readonly key: SearchKey;
}

/** RFC 5256 §3: SORT (criteria) charset keys. */
export function sort(r: Reader): SortArgs {
  r.sp();
  const words = r.list(() => r.keyword(), false);
  const criteria: { key: SortKey; reverse: boolean }[] = [];
  let reverse = false;
  for (const w of words) {
    if (w === 'REVERSE') reverse = true;
    else if (sortKeys.has(w)) {
      criteria.push({ key: w as SortKey, reverse });
      reverse = false;
    } else throw new ParseError(`unknown sort key ${w}`);
  }
  if (reverse || criteria.length === 0) throw new ParseError('sort criterion expected');
  r.sp();
  const charset = r.astring().toUpperCase();
  r.sp();
  return { criteria, charset, key: parseSearchKeys(r) };
}

export function thread(r: Reader): { algorithm: string; charset: string; key: SearchKey } {
  r.sp();
  const algorithm = r.keyword();
  r.sp();
  const charset = r.astring().toUpperCase();
  r.sp();
  return { algorithm, charset, key: parseSearchKeys(r) };
}

export function quotaRoot(r: Reader): string {
  r.sp();
  const root = decodeUtf8(r.astringBytes(), 'quota root');
  r.end();
  return root;
}
