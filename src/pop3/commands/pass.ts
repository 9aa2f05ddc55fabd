// PASS string (RFC 1939 §7): completes USER/PASS. The whole rest of the line is the password (spaces included).
// Must not log or echo the password.

import { login } from '../login.ts';
import * as replies from '../proto/replies.ts';
import { type CommandSpec, requireAuthorization } from './spec.ts';

export interface PassArgs {
  readonly password: string;
}

export const pass: CommandSpec<PassArgs> = {
  rfc: 'RFC 1939 §7',
  states: ['AUTHORIZATION'],
  parse(rest) {
    // RFC 1939 §7: "a POP3 server may treat spaces in the argument as part of the password".
    return rest === '' ? { ok: false, reply: replies.syntax('PASS string') } : { ok: true, args: { password: rest } };
  },
  async handle(ctx, { password }) {
    const auth = requireAuthorization(ctx);
    if (!ctx.plaintextAuthAllowed) {
      await ctx.reply(replies.plaintextDisallowed);
      return;
    }
    const name = auth.pendingUser;
    auth.pendingUser = undefined;
    if (name === undefined) {
      await ctx.reply(replies.noUserGiven);
      return;
    }
    await login(ctx, name, password, 'USER');
  },
};
