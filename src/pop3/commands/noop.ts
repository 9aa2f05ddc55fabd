// NOOP (RFC 1939 §5): "+OK". Resets the idle timer, as any command does.

import * as replies from '../proto/replies.ts';
import { type CommandSpec, parseNoArgs } from './spec.ts';

export const noop: CommandSpec<null> = {
  rfc: 'RFC 1939 §5',
  states: ['TRANSACTION'],
  parse: parseNoArgs('NOOP'),
  async handle(ctx) {
    await ctx.reply(replies.noop);
  },
};
