// STLS (RFC 2595 §4): "+OK", then the TLS handshake; afterwards the client must CAPA again and anything it
// sent before the handshake is discarded. Must not run after TLS is active or outside AUTHORIZATION.

import * as replies from '../proto/replies.ts';
import { type CommandSpec, parseNoArgs, requireAuthorization } from './spec.ts';

export const stls: CommandSpec<null> = {
  rfc: 'RFC 2595 §4',
  states: ['AUTHORIZATION'],
  parse: parseNoArgs('STLS'),
  async handle(ctx) {
    requireAuthorization(ctx);
    if (ctx.secure) {
      await ctx.reply(replies.stlsAlreadyActive);
      return;
    }
    if (!ctx.tlsAvailable) {
      await ctx.reply(replies.stlsUnavailable);
      return;
    }
    await ctx.reply(replies.stlsBegin);
    await ctx.startTls();
  },
};
