// QUIT (RFC 1939 §4, §6): in AUTHORIZATION just signs off; in TRANSACTION enters UPDATE and has the store
// remove the marked messages, all or none. The maildrop itself is closed by the connection's teardown.

import { errorFields } from '../../net/logger.ts';
import * as replies from '../proto/replies.ts';
import { deletedUidls } from '../session-state.ts';
import { type CommandSpec, parseNoArgs, requireTransaction } from './spec.ts';

export const quit: CommandSpec<null> = {
  rfc: 'RFC 1939 §4, §6',
  states: ['AUTHORIZATION', 'TRANSACTION'],
  parse: parseNoArgs('QUIT'),
  async handle(ctx) {
    if (ctx.state.name === 'AUTHORIZATION') {
      await ctx.reply(replies.signingOff(ctx.serverName));
      ctx.end();
      return;
    }
    const tx = requireTransaction(ctx);
    ctx.state = { name: 'UPDATE', maildrop: tx.maildrop };
    const uidls = deletedUidls(tx);
    if (uidls.length > 0) {
      try {
        await tx.maildrop.commit(uidls);
      } catch (e) {
        ctx.log.error({ event: 'update-failed', user: tx.user, accountId: tx.account.accountId, deleted: uidls.length, ...errorFields(e) }, 'UPDATE failed: nothing deleted');
        await ctx.reply(replies.updateFailed);
        ctx.end();
        return;
      }
    }
    ctx.log.info({ event: 'update', user: tx.user, accountId: tx.account.accountId, deleted: uidls.length }, 'QUIT: maildrop updated');
    await ctx.reply(replies.signingOffAfterUpdate(ctx.serverName, tx.messages.length - uidls.length));
    ctx.end();
  },
};
