// RCPT TO: relay refusal for domains not hosted here, directory lookup (unknown, over quota), the policy hook.
// Syntax and the recipients-per-message limit (452 4.5.3) are smtp-server's, before this runs.

import type { SMTPServerAddress, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { AcceptedRecipient, AccountId, RecipientVerdict } from '../backend.ts';
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

export function onRcptTo(rt: ListenerRuntime): NonNullable<SMTPServerOptions['onRcptTo']> {
  return (address, session, callback) => {
    const tx = connectionState(session).tx;
    settle(rt, logFields(rt, session, tx?.tnx), rcptTo(rt, session, tx, address), callback);
  };
}

/** The domain of an address, lower case; '' for the domainless `postmaster` (RFC 5321 §4.1.1.3). */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase();
}

async function rcptTo(rt: ListenerRuntime, session: SMTPServerSession, tx: TransactionState | null, address: SMTPServerAddress): Promise<SmtpReply | null> {
  // smtp-server answers 503 to RCPT without an accepted MAIL, so a transaction exists.
  if (tx === null) throw new Error('smtp: RCPT without a transaction');
  const rcpt = address.address;
  const fields = { ...logFields(rt, session, tx.tnx), rcpt };
  const { limits } = rt.config;
  const ctx = (signal: AbortSignal) => callContext(rt, session, tx.tnx, signal);

  const domain = domainOf(rcpt);
  const local = domain === '' || (await withDeadline(rt, limits.backendCallTimeoutMs, (signal) => rt.backend.isLocalDomain(domain, ctx(signal))));
  if (!local) {
    return refuse(rt, fields, 'rcpt.refused', rt.listener === 'mx' ? replies.relayDenied : replies.remoteRelayUnavailable);
  }
  const verdict = await withDeadline(rt, limits.backendCallTimeoutMs, (signal) =>
    rt.backend.resolveRecipient(rcpt, { ...ctx(signal), declaredSizeBytes: tx.declaredSizeBytes, principal: principalOf(session) }),
  );
  const accountIds = verdictAccounts(verdict);
  if ('code' in accountIds) return refuse(rt, fields, 'rcpt.refused', accountIds, { verdict: verdict.kind });

  const recipient: AcceptedRecipient = { address: rcpt, accountIds };
  const hook = rt.hooks.onRcptTo;
  if (hook !== undefined) {
    const facts = { ...mailFromFacts(rt, session, tx), recipient };
    const verdict = await withDeadline(rt, limits.backendCallTimeoutMs, (signal) => hook(facts, ctx(signal)));
    if (verdict.action === 'reject') return refuse(rt, fields, 'rcpt.refused', verdict.reply, { by: 'policy' });
  }
  tx.recipients.set(rcpt.toLowerCase(), recipient); // a repeated address replaces itself, as in smtp-server
  rt.logger.debug({ ...fields, event: 'rcpt', accountIds }, 'rcpt');
  return null;
}

/** The accounts a verdict delivers to, or the reply refusing the recipient. */
function verdictAccounts(v: RecipientVerdict): readonly AccountId[] | SmtpReply {
  switch (v.kind) {
    case 'account':
      return [v.accountId];
    case 'alias':
      if (v.accountIds.length === 0) throw new Error('smtp: backend expanded an alias to no account');
      return [...new Set(v.accountIds)];
    case 'unknown':
      return replies.unknownRecipient;
    case 'over-quota':
      return replies.mailboxFull;
    case 'unavailable':
      return replies.localError;
  }
}
