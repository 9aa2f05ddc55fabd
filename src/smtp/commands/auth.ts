// AUTH PLAIN and LOGIN on submission against the directory, with a failure delay and a per-address failure limit.
// Never logs or keeps a password; never says whether the user or the password was wrong.

import { setTimeout as sleep } from 'node:timers/promises';
import type { SMTPServerAuthentication, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { Principal } from '../backend.ts';
import { isSmtpBackendError } from '../errors.ts';
import { replies, SmtpReplyError, type SmtpReply } from '../replies.ts';
import { callContext, failureReply, logFields, refuse, withDeadline, type ListenerRuntime } from '../runtime.ts';

export function onAuth(rt: ListenerRuntime): NonNullable<SMTPServerOptions['onAuth']> {
  return (auth, session, callback) => {
    authenticate(rt, auth, session).then(
      (outcome) => (outcome.kind === 'ok' ? callback(null, { user: outcome.principal }) : callback(new SmtpReplyError(outcome.reply))),
      (err: unknown) => callback(new SmtpReplyError(failureReply(rt, err, logFields(rt, session)))),
    );
  };
}

type AuthOutcome = { readonly kind: 'ok'; readonly principal: Principal } | { readonly kind: 'refused'; readonly reply: SmtpReply };

async function authenticate(rt: ListenerRuntime, auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<AuthOutcome> {
  const username = auth.username ?? '';
  const fields = { ...logFields(rt, session), method: auth.method, username };
  const refused = (event: string, reply: SmtpReply): AuthOutcome => ({ kind: 'refused', reply: refuse(rt, fields, event, reply) });
  const { limits } = rt.config;

  // Checked before the password, so a blocked address learns nothing from further guesses.
  if (rt.authFailures.blocked(session.remoteAddress, rt.clock.nowMs())) return refused('auth.blocked', replies.authTooManyFailures);

  // RFC 4616 §2: an authorization identity other than the login asks to act as someone
  // else, which no stormo user may do.
  const proxying = auth.method === 'PLAIN' && auth.authzid !== undefined && auth.authzid !== '' && auth.authzid !== auth.authcid;
  const password = auth.password ?? '';
  let principal: Principal | null = null;
  if (!proxying && (auth.method === 'PLAIN' || auth.method === 'LOGIN')) {
    try {
      principal = await withDeadline(rt, limits.backendCallTimeoutMs, (signal) =>
        rt.backend.authenticate(username, password, callContext(rt, session, undefined, signal)),
      );
    } catch (err) {
      if (!isSmtpBackendError(err, 'UNAVAILABLE')) throw err;
      failureReply(rt, err, fields); // logs it
      return { kind: 'refused', reply: replies.authTemporaryFailure };
    }
  }
  if (principal === null) {
    rt.authFailures.recordFailure(session.remoteAddress, rt.clock.nowMs());
    await sleep(limits.authFailureDelayMs, undefined, { ref: false });
    return refused('auth.failed', replies.authInvalid);
  }
  rt.logger.info({ ...fields, event: 'auth', accountId: principal.accountId }, 'auth');
  return { kind: 'ok', principal };
}
