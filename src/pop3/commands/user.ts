// USER name (RFC 1939 §7): remembers the name for PASS. Refused before TLS unless plaintext auth is allowed.
// Must not ask the store whether the name exists (that would let anyone enumerate accounts).

import { splitArgs } from '../proto/command-line.ts';
import * as replies from '../proto/replies.ts';
import { type CommandSpec, requireAuthorization } from './spec.ts';

export interface UserArgs {
  readonly user: string;
}

export const user: CommandSpec<UserArgs> = {
  rfc: 'RFC 1939 §7',
  states: ['AUTHORIZATION'],
  parse(rest) {
    const args = splitArgs(rest, 1, 1);
    return args?.[0] === undefined ? { ok: false, reply: replies.syntax('USER name') } : { ok: true, args: { user: args[0] } };
  },
  async handle(ctx, { user: name }) {
    const auth = requireAuthorization(ctx);
    if (!ctx.plaintextAuthAllowed) {
      auth.pendingUser = undefined;
      await ctx.reply(replies.plaintextDisallowed);
      return;
    }
    auth.pendingUser = name;
    await ctx.reply(replies.userAccepted);
  },
};
