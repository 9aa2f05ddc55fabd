// MAIL FROM: opens a transaction (its tnx id), checks that a submission user owns the sender, runs the policy hook.
// Syntax, SIZE= against the limit (552 5.3.4), BODY= and SMTPUTF8 are smtp-server's, before this runs.

import type { SMTPServerAddress, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import { replies, type SmtpReply } from '../replies.ts';
import {
  callContext,
  connectionState,
  logFields,
  mailFromFacts,
  principalOf,
  refuse,
  settle,
  withDeadline,
  type ListenerRuntime,
  type TransactionState,
} from '../runtime.ts';

export function onMailFrom(rt: ListenerRuntime): NonNullable<SMTPServerOptions['onMailFrom']> {
  return (address, session, callback) => {
    const tx = openTransaction(session, address);
    settle(rt, logFields(rt, session, tx.tnx), mailFrom(rt, session, tx), callback);
  };
}

function openTransaction(session: SMTPServerSession, address: SMTPServerAddress): TransactionState {
  const state = connectionState(session);
  state.transactions++;
  state.tx = null; // a refused MAIL leaves no transaction behind
  const size = address.args === false ? undefined : address.args['SIZE'];
  return {
    tnx: `${session.id}.${state.transactions}`,
    mailFrom: address.address,
    declaredSizeBytes: typeof size === 'string' ? Number(size) : null,
    recipients: new Map(),
  };
}

async function mailFrom(rt: ListenerRuntime, session: SMTPServerSession, tx: TransactionState): Promise<SmtpReply | null> {
  const fields = { ...logFields(rt, session, tx.tnx), mailFrom: tx.mailFrom };
  const { limits } = rt.config;
  if (rt.listener !== 'mx') {
    // smtp-server already answered 530 to MAIL before AUTH; this guards the invariant.
    const principal = principalOf(session);
    if (principal === null) return refuse(rt, fields, 'mail.refused', replies.authRequired);
    const allowed = await withDeadline(rt, limits.backendCallTimeoutMs, (signal) =>
      rt.backend.senderAllowed(principal, tx.mailFrom, callContext(rt, session, tx.tnx, signal)),
    );
    if (!allowed) return refuse(rt, fields, 'mail.refused', replies.senderNotOwned, { username: principal.username });
  }
  const hook = rt.hooks.onMailFrom;
  if (hook !== undefined) {
    const verdict = await withDeadline(rt, limits.backendCallTimeoutMs, (signal) =>
      hook(mailFromFacts(rt, session, tx), callContext(rt, session, tx.tnx, signal)),
    );
    if (verdict.action === 'reject') return refuse(rt, fields, 'mail.refused', verdict.reply, { by: 'policy' });
  }
  connectionState(session).tx = tx;
  rt.logger.debug({ ...fields, event: 'mail' }, 'mail');
  return null;
}
