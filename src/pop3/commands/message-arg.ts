// Argument parsers shared by the commands that take a message-number (RFC 1939 §5). Pure.

import { parseMessageNumber, splitArgs } from '../proto/command-line.ts';
import * as replies from '../proto/replies.ts';
import type { ParseResult } from './spec.ts';

export interface MessageArg {
  readonly n: number;
}

export interface OptionalMessageArg {
  readonly n: number | undefined;
}

export function parseMessageArg(usage: string): (rest: string) => ParseResult<MessageArg> {
  return (rest) => {
    const n = parseMessageNumber(splitArgs(rest, 1, 1)?.[0] ?? '');
    return n === undefined ? { ok: false, reply: replies.syntax(usage) } : { ok: true, args: { n } };
  };
}

export function parseOptionalMessageArg(usage: string): (rest: string) => ParseResult<OptionalMessageArg> {
  return (rest) => {
    const args = splitArgs(rest, 0, 1);
    if (args === undefined) return { ok: false, reply: replies.syntax(usage) };
    if (args[0] === undefined) return { ok: true, args: { n: undefined } };
    const n = parseMessageNumber(args[0]);
    return n === undefined ? { ok: false, reply: replies.syntax(usage) } : { ok: true, args: { n } };
  };
}
