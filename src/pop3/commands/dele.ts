// DELE msg (RFC 1939 §5): marks a message deleted. Nothing reaches the store until QUIT (UPDATE state);
// a dropped connection deletes nothing.

import * as replies from '../proto/replies.ts';
import { type MessageArg, parseMessageArg } from './message-arg.ts';
import { type CommandSpec, requireTransaction } from './spec.ts';

export const dele: CommandSpec<MessageArg> = {
  rfc: 'RFC 1939 §5',
  states: ['TRANSACTION'],
  parse: parseMessageArg('DELE msg'),
  async handle(ctx, { n }) {
    const tx = requireTransaction(ctx);
    const index = n - 1;
    if (index >= tx.messages.length) {
      await ctx.reply(replies.noSuchMessage(tx.messages.length));
      return;
    }
    if (tx.deleted[index] === true) {
      await ctx.reply(replies.messageAlreadyDeleted(n));
      return;
    }
    tx.deleted[index] = true;
    await ctx.reply(replies.messageDeleted(n));
  },
};
