// The POP3 session states (RFC 1939 §3) and what each holds, with pure helpers over the TRANSACTION snapshot:
// message lookup, live totals, the deletion list, and the check that a store's snapshot keeps the contract.

import type { AccountHandle, Maildrop, MaildropMessage } from './backend.ts';
import { pop3UidlCharsMax } from './limits.ts';
import * as replies from './proto/replies.ts';
import type { Reply } from './proto/reply.ts';

/** The states a command may be allowed in. UPDATE is entered by QUIT only and accepts no command. */
export type Pop3State = 'AUTHORIZATION' | 'TRANSACTION';

export interface AuthorizationState {
  readonly name: 'AUTHORIZATION';
  /** The name from USER, waiting for PASS (RFC 1939 §7); forgotten after STLS (RFC 2595 §4). */
  pendingUser: string | undefined;
}

export interface TransactionState {
  readonly name: 'TRANSACTION';
  readonly user: string;
  readonly account: AccountHandle;
  readonly maildrop: Maildrop;
  readonly messages: readonly MaildropMessage[];
  /** deleted[n - 1]: message n is marked by DELE (RFC 1939 §5); RSET clears the marks. */
  readonly deleted: boolean[];
}

/** RFC 1939 §6: after QUIT in TRANSACTION; the maildrop is kept only so that teardown closes it. */
export interface UpdateState {
  readonly name: 'UPDATE';
  readonly maildrop: Maildrop;
}

export type SessionState = AuthorizationState | TransactionState | UpdateState;

export interface LiveTotals {
  readonly count: number;
  readonly octets: number;
}

/** Messages not marked deleted, and their octets (STAT, LIST, RSET). */
export function liveTotals(tx: TransactionState): LiveTotals {
  let count = 0;
  let octets = 0;
  tx.messages.forEach((m, i) => {
    if (tx.deleted[i] !== true) {
      count++;
      octets += m.size;
    }
  });
  return { count, octets };
}

/** RFC 1939 §5: a message-number that exists and is not marked deleted, or the reply that says otherwise. */
export function lookupMessage(tx: TransactionState, n: number): { ok: true; index: number; message: MaildropMessage } | { ok: false; reply: Reply } {
  const index = n - 1;
  const message = tx.messages[index];
  if (message === undefined || tx.deleted[index] === true) return { ok: false, reply: replies.noSuchMessage(tx.messages.length) };
  return { ok: true, index, message };
}

export function deletedUidls(tx: TransactionState): string[] {
  return tx.messages.filter((_, i) => tx.deleted[i] === true).map((m) => m.uidl);
}

/** Why a snapshot breaks the Maildrop contract, or undefined when it keeps it. */
export function snapshotProblem(messages: readonly MaildropMessage[]): string | undefined {
  const seen = new Set<string>();
  for (const [i, m] of messages.entries()) {
    if (typeof m.uidl !== 'string' || m.uidl.length < 1 || m.uidl.length > pop3UidlCharsMax || !/^[\x21-\x7e]+$/.test(m.uidl))
      return `message ${i + 1}: uidl is not 1..${pop3UidlCharsMax} characters in 0x21..0x7E`;
    if (seen.has(m.uidl)) return `message ${i + 1}: uidl ${m.uidl} is not unique`;
    seen.add(m.uidl);
    if (!Number.isSafeInteger(m.size) || m.size < 0) return `message ${i + 1}: size ${m.size} is not an octet count`;
  }
  return undefined;
}
