// SEARCH program grammar (RFC 9051 §6.4.4, RFC 7162 MODSEQ, RFC 8474 EMAILID/THREADID, RFC 4731 RETURN,
// RFC 5182 $): keys into a typed tree. Pure; evaluation against messages lives in commands/search-eval.ts.

import { imapSearchKeysMax } from '../limits.ts';
import { ParseError, type Reader, decodeUtf8 } from './reader.ts';
import { type SequenceSet, looksLikeSequenceSet, parseSequenceSet } from './sequence.ts';

export type DateOp = 'before' | 'on' | 'since';

export type SearchKey =
  | { readonly k: 'all' }
  | { readonly k: 'flag'; readonly flag: string; readonly set: boolean }
  | { readonly k: 'new' }
  | { readonly k: 'old' }
  | { readonly k: 'recent' }
  | { readonly k: 'header'; readonly field: string; readonly value: string }
  | { readonly k: 'body'; readonly value: string }
  | { readonly k: 'text'; readonly value: string }
  | { readonly k: 'date'; readonly sent: boolean; readonly op: DateOp; readonly ms: number }
  | { readonly k: 'size'; readonly larger: boolean; readonly n: number }
  | { readonly k: 'seq'; readonly set: SequenceSet }
  | { readonly k: 'uid'; readonly set: SequenceSet }
  | { readonly k: 'not'; readonly key: SearchKey }
  | { readonly k: 'or'; readonly a: SearchKey; readonly b: SearchKey }
  | { readonly k: 'and'; readonly keys: readonly SearchKey[] }
  | { readonly k: 'modseq'; readonly modSeq: bigint }
  | { readonly k: 'emailid'; readonly id: string }
  | { readonly k: 'threadid'; readonly id: string }
  | { readonly k: 'within'; readonly older: boolean; readonly seconds: number };

export type SearchReturn = 'MIN' | 'MAX' | 'ALL' | 'COUNT' | 'SAVE';

export interface SearchProgram {
  /** RFC 4731: null = classic `* SEARCH` reply; [] = `RETURN ()` meaning ALL. */
  readonly returns: readonly SearchReturn[] | null;
  readonly charset: string | null;
  readonly key: SearchKey;
}

const flagKeys: Record<string, [string, boolean]> = {
  ANSWERED: ['\\Answered', true],
  DELETED: ['\\Deleted', true],
  DRAFT: ['\\Draft', true],
  FLAGGED: ['\\Flagged', true],
  SEEN: ['\\Seen', true],
  UNANSWERED: ['\\Answered', false],
  UNDELETED: ['\\Deleted', false],
  UNDRAFT: ['\\Draft', false],
  UNFLAGGED: ['\\Flagged', false],
  UNSEEN: ['\\Seen', false],
};

const headerKeys: Record<string, string> = { BCC: 'bcc', CC: 'cc', FROM: 'from', SUBJECT: 'subject', TO: 'to' };
const dateKeys: Record<string, [boolean, DateOp]> = {
  BEFORE: [false, 'before'],
  ON: [false, 'on'],
  SINCE: [false, 'since'],
  SENTBEFORE: [true, 'before'],
  SENTON: [true, 'on'],
  SENTSINCE: [true, 'since'],
};

class KeyParser {
  private count = 0;
  private readonly r: Reader;

  constructor(r: Reader) {
    this.r = r;
  }

  private str(): string {
    return decodeUtf8(this.r.astringBytes(), 'search string');
  }

  key(): SearchKey {
    if (++this.count > imapSearchKeysMax) throw new ParseError(`more than ${imapSearchKeysMax} search keys`);
    const r = this.r;
    if (r.peek() === 0x28) {
      const keys = r.list(() => this.key(), false);
      return keys.length === 1 ? keys[0]! : { k: 'and', keys };
    }
    if (looksLikeSequenceSet(r)) return { k: 'seq', set: parseSequenceSet(r) };
    const name = r.keyword();
    const flag = flagKeys[name];
    if (flag) return { k: 'flag', flag: flag[0], set: flag[1] };
    const header = headerKeys[name];
    if (header) {
      r.sp();
      return { k: 'header', field: header, value: this.str() };
    }
    const date = dateKeys[name];
    if (date) {
      r.sp();
      return { k: 'date', sent: date[0], op: date[1], ms: r.date() };
    }
    return this.other(name);
  }

  private other(name: string): SearchKey {
    const r = this.r;
    switch (name) {
      case 'ALL':
        return { k: 'all' };
      case 'NEW':
        return { k: 'new' };
      case 'OLD':
        return { k: 'old' };
      case 'RECENT':
        return { k: 'recent' };
      case 'KEYWORD':
      case 'UNKEYWORD':
        r.sp();
        return { k: 'flag', flag: r.atom(), set: name === 'KEYWORD' };
      case 'HEADER': {
        r.sp();
        const field = this.str().toLowerCase();
        r.sp();
        return { k: 'header', field, value: this.str() };
      }
      case 'BODY':
      case 'TEXT':
        r.sp();
        return { k: name === 'BODY' ? 'body' : 'text', value: this.str() };
      case 'LARGER':
      case 'SMALLER':
        r.sp();
        return { k: 'size', larger: name === 'LARGER', n: r.number() };
      case 'UID':
        r.sp();
        return { k: 'uid', set: parseSequenceSet(r) };
      case 'NOT':
        r.sp();
        return { k: 'not', key: this.key() };
      case 'OR': {
        r.sp();
        const a = this.key();
        r.sp();
        return { k: 'or', a, b: this.key() };
      }
      case 'OLDER':
      case 'YOUNGER':
        r.sp();
        return { k: 'within', older: name === 'OLDER', seconds: r.nzNumber() };
      case 'MODSEQ':
        return this.modseq();
      case 'EMAILID':
      case 'THREADID':
        r.sp();
        return { k: name === 'EMAILID' ? 'emailid' : 'threadid', id: r.atom() };
      default:
        throw new ParseError(`unknown search key ${name}`);
    }
  }

  /** RFC 7162 §3.1.5: MODSEQ [entry-name entry-type-req] mod-sequence-valzer. */
  private modseq(): SearchKey {
    const r = this.r;
    r.sp();
    if (r.peek() === 0x22) {
      r.quoted();
      r.sp();
      const type = r.keyword();
      if (type !== 'PRIV' && type !== 'SHARED' && type !== 'ALL') throw new ParseError('MODSEQ entry type must be priv, shared or all');
      r.sp();
    }
    return { k: 'modseq', modSeq: r.number64() };
  }
}

function parseReturn(r: Reader): SearchReturn[] {
  const opts = r.list(() => {
    const o = r.keyword();
    if (o !== 'MIN' && o !== 'MAX' && o !== 'ALL' && o !== 'COUNT' && o !== 'SAVE') throw new ParseError(`unknown RETURN option ${o}`);
    return o as SearchReturn;
  });
  return opts;
}

/** `[RETURN (opts)] [CHARSET cs] key *(SP key)` up to the end of the command. */
export function parseSearchProgram(r: Reader, allowReturn: boolean): SearchProgram {
  let returns: SearchReturn[] | null = null;
  let charset: string | null = null;
  if (allowReturn && r.peekKeyword() === 'RETURN') {
    r.keyword();
    r.sp();
    returns = parseReturn(r);
    r.sp();
  }
  if (r.peekKeyword() === 'CHARSET') {
    r.keyword();
    r.sp();
    charset = r.astring().toUpperCase();
    r.sp();
  }
  return { returns, charset, key: parseSearchKeys(r) };
}

/** One or more keys separated by spaces, to the end of the command: an implicit AND. */
export function parseSearchKeys(r: Reader): SearchKey {
  const p = new KeyParser(r);
  const keys: SearchKey[] = [p.key()];
  while (r.maybeSp()) keys.push(p.key());
  r.end();
  return keys.length === 1 ? keys[0]! : { k: 'and', keys };
}

/** True when the program uses MODSEQ anywhere (the reply then carries `(MODSEQ n)`, RFC 7162 §3.1.5). */
export function usesModSeq(k: SearchKey): boolean {
  switch (k.k) {
    case 'modseq':
      return true;
    case 'not':
      return usesModSeq(k.key);
    case 'or':
      return usesModSeq(k.a) || usesModSeq(k.b);
    case 'and':
      return k.keys.some(usesModSeq);
    default:
      return false;
  }
}
