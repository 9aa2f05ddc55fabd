// STAT (RFC 1939 §5): "+OK count octets" over the messages not marked deleted. Reads only the snapshot.

import * as replies from '../proto/replies.ts';
import { liveTotals } from '../session-state.ts';
import { type CommandSpec, parseNoArgs, requireTransaction } from './spec.ts';

export const stat: CommandSpec<null> = {
  rfc: 'RFC 1939 §5',
  states: ['TRANSACTION'],
  parse: parseNoArgs('STAT'),
  async handle(ctx) {
    const { count, octets } = liveTotals(requireTransaction(ctx));
    await ctx.reply(replies.dropListing(count, octets));
  },
};
