// Parses one POP3 command line into a keyword and its argument text, and the argument forms commands share
// (RFC 1939 §3, RFC 2449 §4). Pure: no sockets, no store; commands decide their own arity.

import { pop3NumberDigitsMax } from '../limits.ts';

export interface CommandLine {
  /** Upper-cased: keywords are case-insensitive (RFC 1939 §3). */
  readonly keyword: string;
  /** Everything after the first space, unmodified (PASS may contain spaces, RFC 1939 §7). '' when absent. */
  readonly rest: string;
}

export type CommandLineError =
  | 'EMPTY' // an empty line
  | 'BAD_BYTES' // not UTF-8, or a control character (NUL, CR, TAB, ...)
  | 'BAD_KEYWORD'; // not 3 or 4 ASCII letters: cannot name any POP3 command

export type CommandLineResult = { readonly ok: true; readonly line: CommandLine } | { readonly ok: false; readonly error: CommandLineError };

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function parseCommandLine(bytes: Uint8Array): CommandLineResult {
  if (bytes.length === 0) return { ok: false, error: 'EMPTY' };
  for (const b of bytes) if (b < 0x20 || b === 0x7f) return { ok: false, error: 'BAD_BYTES' };
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, error: 'BAD_BYTES' };
  }
  const space = text.indexOf(' ');
  const keyword = space < 0 ? text : text.slice(0, space);
  // RFC 1939 §3: "Keywords are three or four characters long"; extension keywords (RFC 2449 CAPA, STLS, AUTH) too.
  if (!/^[A-Za-z]{3,4}$/.test(keyword)) return { ok: false, error: 'BAD_KEYWORD' };
  return { ok: true, line: { keyword: keyword.toUpperCase(), rest: space < 0 ? '' : text.slice(space + 1) } };
}

/**
 * Arguments separated by spaces (RFC 1939 §3 says one space; runs of spaces and a trailing space are tolerated).
 * Undefined when the count is outside [min, max].
 */
export function splitArgs(rest: string, min: number, max: number): readonly string[] | undefined {
  const args = rest.split(' ').filter((a) => a !== '');
  return args.length < min || args.length > max ? undefined : args;
}

/** A non-negative decimal integer of at most pop3NumberDigitsMax digits; no sign, no spaces. */
export function parseDecimal(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text) || text.length > pop3NumberDigitsMax) return undefined;
  return Number(text);
}

/** RFC 1939 §5: a message-number is a decimal >= 1 (whether it exists is the maildrop's question). */
export function parseMessageNumber(text: string): number | undefined {
  const n = parseDecimal(text);
  return n === undefined || n < 1 ? undefined : n;
}
