// TOP msg n (RFC 1939 §7): the header, the blank line, and the first n body lines. Stops reading the
// message from the store once it has them.

import { parseDecimal, parseMessageNumber, splitArgs } from '../proto/command-line.ts';
import * as replies from '../proto/replies.ts';
import { lookupMessage } from '../session-state.ts';
import { type CommandSpec, requireTransaction } from './spec.ts';

export interface TopArgs {
  readonly n: number;
  readonly bodyLines: number;
}

export const top: CommandSpec<TopArgs> = {
  rfc: 'RFC 1939 §7',
  states: ['TRANSACTION'],
  parse(rest) {
    const args = splitArgs(rest, 2, 2);
    const n = parseMessageNumber(args?.[0] ?? '');
    const bodyLines = parseDecimal(args?.[1] ?? '');
    if (n === undefined || bodyLines === undefined) return { ok: false, reply: replies.syntax('TOP msg n') };
    return { ok: true, args: { n, bodyLines } };
  },
  async handle(ctx, { n, bodyLines }) {
    const tx = requireTransaction(ctx);
    const found = lookupMessage(tx, n);
    if (!found.ok) {
      await ctx.reply(found.reply);
      return;
    }
    const outcome = await ctx.sendMessage(replies.topFollows, tx.maildrop.read(found.index), { topBodyLines: bodyLines });
    if (outcome === 'unavailable') await ctx.reply(replies.temporarilyUnavailable);
  },
};
