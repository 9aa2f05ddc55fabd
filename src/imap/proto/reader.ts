// The lexical layer of the IMAP command grammar (RFC 9051 §9): atoms, numbers, quoted strings, literals
// ({n}, {n+}, ~{n}), astrings, nstrings, lists. Pure: a command's bytes in, values or ParseError out.

import { imapParseDepthMax } from '../limits.ts';

/** A client's syntax error: the command is answered with a tagged BAD carrying this text. */
export class ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParseError';
  }
}

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const DQUOTE = 0x22;
const BACKSLASH = 0x5c;

/** RFC 9051 atom-specials: ( ) { SP CTL % * " \ ] (list-wildcards and resp-specials included). */
function isAtomChar(c: number): boolean {
  if (c <= 0x20 || c === 0x7f || c >= 0x80) return false;
  return c !== 0x28 && c !== 0x29 && c !== 0x7b && c !== 0x25 && c !== 0x2a && c !== DQUOTE && c !== BACKSLASH && c !== 0x5d;
}

/** ASTRING-CHAR: ATOM-CHAR or "]"; 8-bit octets too, leniently (clients send UTF-8 unquoted; Dovecot accepts it). */
function isAstringChar(c: number): boolean {
  return isAtomChar(c) || c === 0x5d || c >= 0x80;
}

/** list-mailbox chars: ATOM-CHAR, list-wildcards and resp-specials. */
function isListChar(c: number): boolean {
  return isAstringChar(c) || c === 0x25 || c === 0x2a;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeUtf8(b: Uint8Array, what: string): string {
  try {
    return utf8.decode(b);
  } catch {
    throw new ParseError(`${what} is not valid UTF-8`);
  }
}

/**
 * A cursor over one whole command: its line(s) with the literals inline, exactly as the client sent them
 * (`{n}` CRLF then n octets), without the final CRLF. Every method either advances or throws ParseError.
 */
export class Reader {
  readonly buf: Buffer;
  pos = 0;
  depth = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  get atEnd(): boolean {
    return this.pos >= this.buf.length;
  }

  peek(): number {
    return this.pos < this.buf.length ? this.buf[this.pos]! : -1;
  }

  fail(what: string): never {
    throw new ParseError(`${what} expected at octet ${this.pos}`);
  }

  sp(): void {
    if (this.peek() !== SP) this.fail('space');
    this.pos++;
  }

  /** Consumes a space when one is next. */
  maybeSp(): boolean {
    if (this.peek() !== SP) return false;
    this.pos++;
    return true;
  }

  end(): void {
    if (!this.atEnd) throw new ParseError(`unexpected text at octet ${this.pos}`);
  }

  /** Consumes `c` when it is next. */
  eat(c: string): boolean {
    if (this.peek() !== c.charCodeAt(0)) return false;
    this.pos++;
    return true;
  }

  expect(c: string): void {
    if (!this.eat(c)) this.fail(`"${c}"`);
  }

  private run(pred: (c: number) => boolean): string {
    const start = this.pos;
    while (this.pos < this.buf.length && pred(this.buf[this.pos]!)) this.pos++;
    return this.buf.toString('latin1', start, this.pos);
  }

  atom(): string {
    const a = this.run(isAtomChar);
    if (a === '') this.fail('atom');
    return a;
  }

  /** An atom that may contain "]" (ASTRING-CHAR), as in tags (without "+") and flag names. */
  astringAtom(): string {
    const a = this.run(isAstringChar);
    if (a === '') this.fail('atom');
    return a;
  }

  /** A word up to the next space, "(" or ")" (keywords such as BODY[...] are parsed by their callers). */
  keyword(): string {
    return this.atom().toUpperCase();
  }

  /** Looks at the next atom without consuming it. */
  peekKeyword(): string {
    const save = this.pos;
    const a = this.run(isAtomChar).toUpperCase();
    this.pos = save;
    return a;
  }

  number(): number {
    const d = this.run((c) => c >= 0x30 && c <= 0x39);
    if (d === '' || d.length > 10) this.fail('number');
    const n = Number(d);
    if (n > 0xffffffff) this.fail('number within 32 bits');
    return n;
  }

  nzNumber(): number {
    const n = this.number();
    if (n === 0) this.fail('non-zero number');
    return n;
  }

  /** mod-sequence values: 63-bit (RFC 7162 §7). */
  number64(): bigint {
    const d = this.run((c) => c >= 0x30 && c <= 0x39);
    if (d === '' || d.length > 19) this.fail('64-bit number');
    const n = BigInt(d);
    if (n > 0x7fffffffffffffffn) this.fail('63-bit number');
    return n;
  }

  quoted(): Buffer {
    this.expect('"');
    const out: number[] = [];
    for (;;) {
      const c = this.peek();
      if (c < 0 || c === CR || c === LF || c === 0) this.fail('closing quote');
      this.pos++;
      if (c === DQUOTE) return Buffer.from(out);
      if (c === BACKSLASH) {
        const e = this.peek();
        if (e !== DQUOTE && e !== BACKSLASH) this.fail('quoted-special after backslash');
        this.pos++;
        out.push(e);
      } else out.push(c);
    }
  }

  /** `{n}` / `{n+}` CRLF octets, or with `binary` also literal8 `~{n}` (RFC 3516). */
  literal(binary = false): Buffer {
    if (this.peek() === 0x7e) {
      if (!binary) this.fail('literal (literal8 not allowed here)');
      this.pos++;
    }
    this.expect('{');
    const n = this.number();
    this.eat('+');
    this.expect('}');
    if (this.buf[this.pos] !== CR || this.buf[this.pos + 1] !== LF) this.fail('CRLF after literal length');
    this.pos += 2;
    if (this.pos + n > this.buf.length) this.fail(`literal of ${n} octets`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    if (!binary && out.includes(0)) throw new ParseError('NUL in a literal (use literal8)');
    return out;
  }

  isLiteralNext(): boolean {
    const c = this.peek();
    return c === 0x7b || c === 0x7e;
  }

  string(): Buffer {
    if (this.peek() === DQUOTE) return this.quoted();
    if (this.isLiteralNext()) return this.literal();
    return this.fail('string');
  }

  astringBytes(): Buffer {
    const c = this.peek();
    if (c === DQUOTE || c === 0x7b) return this.string();
    const a = this.run(isAstringChar);
    if (a === '') this.fail('astring');
    return Buffer.from(a, 'latin1');
  }

  astring(): string {
    return decodeUtf8(this.astringBytes(), 'string');
  }

  nstring(): string | null {
    if (this.peekKeyword() === 'NIL') {
      this.pos += 3;
      return null;
    }
    return decodeUtf8(this.string(), 'string');
  }

  /** list-mailbox: a LIST pattern, as atom-ish chars with wildcards or a string. */
  listMailbox(): string {
    const c = this.peek();
    if (c === DQUOTE || c === 0x7b) return decodeUtf8(this.string(), 'pattern');
    const a = this.run(isListChar);
    if (a === '') this.fail('mailbox pattern');
    return a;
  }

  /** `(` item *(SP item) `)`, or `()` when `allowEmpty`. */
  list<T>(item: () => T, allowEmpty = true): T[] {
    this.expect('(');
    if (++this.depth > imapParseDepthMax) throw new ParseError('nesting too deep');
    const out: T[] = [];
    if (this.eat(')')) {
      this.depth--;
      if (!allowEmpty) this.fail('non-empty list');
      return out;
    }
    do out.push(item());
    while (this.maybeSp());
    this.expect(')');
    this.depth--;
    return out;
  }

  /** A flag: `\Word` (system flags in their canonical case: they are case-insensitive) or a keyword atom. */
  flag(): string {
    if (this.peek() === BACKSLASH) {
      this.pos++;
      if (this.eat('*')) return '\\*';
      const word = this.atom();
      return systemFlags.get(word.toLowerCase()) ?? `\\${word}`;
    }
    return this.atom();
  }

  /** A date-time in quotes: "dd-Mon-yyyy hh:mm:ss +zzzz" (RFC 9051 §9). */
  dateTime(): number {
    const s = this.quoted().toString('latin1');
    const t = parseDateTime(s);
    if (t === undefined) throw new ParseError(`bad date-time "${s}"`);
    return t;
  }

  /** A date: dd-Mon-yyyy, plain or quoted; returns ms at 00:00 UTC of that day. */
  date(): number {
    const s = this.peek() === DQUOTE ? this.quoted().toString('latin1') : this.atom();
    const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s);
    const month = m ? monthIndex(m[2]!) : -1;
    if (!m || month < 0) throw new ParseError(`bad date "${s}"`);
    return Date.UTC(Number(m[3]), month, Number(m[1]));
  }
}

const systemFlags = new Map(['Answered', 'Flagged', 'Deleted', 'Seen', 'Draft', 'Recent'].map((f) => [f.toLowerCase(), `\\${f}`]));

const months = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

export function monthIndex(m: string): number {
  return months.indexOf(m.toLowerCase());
}

export function parseDateTime(s: string): number | undefined {
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(s);
  if (!m) return undefined;
  const month = monthIndex(m[2]!);
  if (month < 0) return undefined;
  const zone = (Number(m[8]) * 60 + Number(m[9])) * (m[7] === '-' ? -1 : 1);
  const t = Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])) - zone * 60_000;
  return Number.isFinite(t) ? t : undefined;
}
