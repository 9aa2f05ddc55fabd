// LIST [msg] (RFC 1939 §5): the scan listing, "n size" per message not marked deleted. Reads only the snapshot.

import * as replies from '../proto/replies.ts';
import { liveTotals, lookupMessage } from '../session-state.ts';
import { type OptionalMessageArg, parseOptionalMessageArg } from './message-arg.ts';
import { type CommandSpec, requireTransaction } from './spec.ts';

export const list: CommandSpec<OptionalMessageArg> = {
  rfc: 'RFC 1939 §5',
  states: ['TRANSACTION'],
  parse: parseOptionalMessageArg('LIST [msg]'),
  async handle(ctx, { n }) {
    const tx = requireTransaction(ctx);
    if (n !== undefined) {
      const found = lookupMessage(tx, n);
      await ctx.reply(found.ok ? replies.singleListing(n, found.message.size) : found.reply);
      return;
    }
    const lines: string[] = [];
    tx.messages.forEach((m, i) => {
      if (tx.deleted[i] !== true) lines.push(`${i + 1} ${m.size}`);
    });
    const { count, octets } = liveTotals(tx);
    await ctx.replyListing(replies.scanListingFollows(count, octets), lines);
  },
};
