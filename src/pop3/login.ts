// The end of every authentication (USER/PASS and AUTH PLAIN): ask the store, open the maildrop snapshot,
// enter TRANSACTION, or map the refusal to its reply. Must not see sockets; never logs the password.

import { errorFields } from '../net/logger.ts';
import { Pop3BackendError, type AuthRefusal, type AuthResult, type Maildrop, type SessionContext } from './backend.ts';
import type { CommandContext } from './commands/spec.ts';
import * as replies from './proto/replies.ts';
import type { Reply } from './proto/reply.ts';
import { liveTotals, snapshotProblem } from './session-state.ts';

const refusalReplies: Record<Exclude<AuthRefusal, 'CREDENTIALS'>, Reply> = {
  DISABLED: replies.accountRefused,
  LOGIN_DELAY: replies.loginDelay,
  IN_USE: replies.maildropInUse,
  TEMPORARY: replies.temporarilyUnavailable,
  PERMANENT: replies.permanentlyUnavailable,
};

const openErrorReplies: Record<Pop3BackendError['code'], Reply> = {
  IN_USE: replies.maildropInUse,
  TEMPORARY: replies.temporarilyUnavailable,
  PERMANENT: replies.permanentlyUnavailable,
};

async function closeQuietly(ctx: CommandContext, maildrop: Maildrop): Promise<void> {
  try {
    await maildrop.close();
  } catch (e) {
    ctx.log.warn({ event: 'maildrop-close-failed', ...errorFields(e) }, 'closing an unused maildrop failed');
  }
}

export async function login(ctx: CommandContext, user: string, password: string, mechanism: SessionContext['mechanism']): Promise<void> {
  if (ctx.authBlocked()) {
    ctx.log.warn({ event: 'auth-blocked', user, mechanism }, 'login refused: too many failures from this address');
    await ctx.reply(replies.authBlocked);
    ctx.end();
    return;
  }
  const session = ctx.sessionContext(mechanism);
  let result: AuthResult;
  try {
    result = await ctx.backend.authenticate(user, password, session);
  } catch (e) {
    ctx.log.error({ event: 'auth-error', user, mechanism, ...errorFields(e) }, 'backend authenticate failed');
    await ctx.reply(replies.temporarilyUnavailable);
    return;
  }
  if (!ctx.open) return;
  if (!result.ok) {
    await refuse(ctx, user, mechanism, result.refusal);
    return;
  }
  let maildrop: Maildrop;
  try {
    maildrop = await ctx.backend.openMaildrop(result.account, session);
  } catch (e) {
    const known = e instanceof Pop3BackendError;
    ctx.log[known ? 'warn' : 'error']({ event: 'maildrop-open-failed', user, accountId: result.account.accountId, ...errorFields(e) }, 'opening the maildrop failed');
    await ctx.reply(known ? openErrorReplies[e.code] : replies.temporarilyUnavailable);
    return;
  }
  // Another task may have run while we waited: the client may be gone.
  if (!ctx.open || ctx.state.name !== 'AUTHORIZATION') {
    await closeQuietly(ctx, maildrop);
    return;
  }
  const messages = maildrop.messages();
  const problem = snapshotProblem(messages);
  if (problem !== undefined) {
    ctx.log.error({ event: 'maildrop-invalid', errCode: 'MAILDROP_INVALID', user, accountId: result.account.accountId, problem }, 'store returned a snapshot that breaks the Maildrop contract');
    await closeQuietly(ctx, maildrop);
    await ctx.reply(replies.temporarilyUnavailable);
    return;
  }
  const tx = { name: 'TRANSACTION' as const, user, account: result.account, maildrop, messages, deleted: messages.map(() => false) };
  ctx.state = tx;
  const totals = liveTotals(tx);
  ctx.log.info({ event: 'auth-ok', user, accountId: result.account.accountId, mechanism, messages: totals.count, octets: totals.octets }, 'logged in');
  await ctx.reply(replies.maildropReady(user, totals.count, totals.octets));
}

async function refuse(ctx: CommandContext, user: string, mechanism: SessionContext['mechanism'], refusal: AuthRefusal): Promise<void> {
  if (refusal !== 'CREDENTIALS') {
    ctx.log.warn({ event: 'auth-refused', user, mechanism, refusal }, 'login refused by the store');
    await ctx.reply(refusalReplies[refusal]);
    return;
  }
  const { closeAfterReply } = await ctx.authFailed();
  ctx.log.warn({ event: 'auth-failed', user, mechanism, closing: closeAfterReply }, 'wrong credentials');
  await ctx.reply(replies.authFailed);
  if (closeAfterReply) ctx.end();
}
