// UIDL [msg] (RFC 1939 §7): "n unique-id" per message not marked deleted. Reads only the snapshot.

import * as replies from '../proto/replies.ts';
import { lookupMessage } from '../session-state.ts';
import { type OptionalMessageArg, parseOptionalMessageArg } from './message-arg.ts';
import { type CommandSpec, requireTransaction } from './spec.ts';

export const uidl: CommandSpec<OptionalMessageArg> = {
  rfc: 'RFC 1939 §7',
  states: ['TRANSACTION'],
  parse: parseOptionalMessageArg('UIDL [msg]'),
  async handle(ctx, { n }) {
    const tx = requireTransaction(ctx);
    if (n !== undefined) {
      const found = lookupMessage(tx, n);
      await ctx.reply(found.ok ? replies.singleListing(n, found.message.uidl) : found.reply);
      return;
    }
    const lines: string[] = [];
    tx.messages.forEach((m, i) => {
      if (tx.deleted[i] !== true) lines.push(`${i + 1} ${m.uidl}`);
    });
    await ctx.replyListing(replies.uniqueIdListingFollows, lines);
  },
};
