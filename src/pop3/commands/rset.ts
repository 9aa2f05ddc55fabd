// RSET (RFC 1939 §5): unmarks every message marked deleted. Touches only the session's marks.

import * as replies from '../proto/replies.ts';
import { liveTotals } from '../session-state.ts';
import { type CommandSpec, parseNoArgs, requireTransaction } from './spec.ts';

export const rset: CommandSpec<null> = {
  rfc: 'RFC 1939 §5',
  states: ['TRANSACTION'],
  parse: parseNoArgs('RSET'),
  async handle(ctx) {
    const tx = requireTransaction(ctx);
    tx.deleted.fill(false);
    const { count, octets } = liveTotals(tx);
    await ctx.reply(replies.maildropReset(count, octets));
  },
};
