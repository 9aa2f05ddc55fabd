// RETR msg (RFC 1939 §5): "+OK size octets" and the message, dot-stuffed. Streams from the store; never
// buffers a whole message.

import * as replies from '../proto/replies.ts';
import { lookupMessage } from '../session-state.ts';
import { type MessageArg, parseMessageArg } from './message-arg.ts';
import { type CommandSpec, requireTransaction } from './spec.ts';

export const retr: CommandSpec<MessageArg> = {
  rfc: 'RFC 1939 §5',
  states: ['TRANSACTION'],
  parse: parseMessageArg('RETR msg'),
  async handle(ctx, { n }) {
    const tx = requireTransaction(ctx);
    const found = lookupMessage(tx, n);
    if (!found.ok) {
      await ctx.reply(found.reply);
      return;
    }
    const size = found.message.size;
    const outcome = await ctx.sendMessage(replies.messageFollows(size), tx.maildrop.read(found.index), { expectedOctets: size });
    if (outcome === 'unavailable') await ctx.reply(replies.temporarilyUnavailable);
  },
};
