// The POP3 backend over the replicated store and the blob store: login, INBOX snapshot, delete at QUIT.
// Binds the protocol to storage; the POP3 parser and session code never import this.

import { randomBytes } from 'node:crypto';
import type { Blobs } from '../blob/index.ts';
import { type Store, StoreError, type AccountId, type Uid } from '../store/index.ts';
import { checkLogin } from '../store/login.ts';
import { type AccountHandle, type AuthResult, type Maildrop, Pop3BackendError, type Pop3Backend } from './backend.ts';

/** Messages one POP3 session sees; a larger INBOX shows its oldest ones (POP3 has no paging). */
export const pop3MaildropMessagesMax = 100_000;

export function storePop3Backend(store: Store, blobs: Blobs): Pop3Backend {
  return {
    async authenticate(user, password): Promise<AuthResult> {
      const account = await checkLogin(store.queries, user, password);
      return account ? { ok: true, account: { accountId: account.id } } : { ok: false, refusal: 'CREDENTIALS' };
    },

    async openMaildrop(handle: AccountHandle): Promise<Maildrop> {
      const accountId = handle.accountId as AccountId;
      const inbox = await store.queries.folderByName(accountId, 'INBOX');
      if (!inbox) throw new Pop3BackendError('PERMANENT', `account ${accountId} has no INBOX`);
      const msgs = await store.queries.messages(accountId, inbox.id, pop3MaildropMessagesMax);
      // UIDL: UIDVALIDITY and UID together are never reused for another message of the account (RFC 1939 §7).
      const list = msgs.map((m) => ({ uidl: `${inbox.uidValidity}-${m.uid}`, size: m.size, uid: m.uid, blobId: m.blobId }));
      const byUidl = new Map(list.map((m) => [m.uidl, m]));
      return {
        messages: () => list,
        read: (i) => blobs.stream(list[i]!.blobId),
        async commit(deleted) {
          const uids = deleted.map((u) => byUidl.get(u)?.uid).filter((u): u is Uid => u !== undefined);
          try {
            await store.execute({ type: 'remove', accountId, folderId: inbox.id, uids }, { requestId: randomBytes(16) });
          } catch (e) {
            throw new Pop3BackendError(e instanceof StoreError && e.code !== 'UNAVAILABLE' ? 'PERMANENT' : 'TEMPORARY', 'removing messages failed', { cause: e });
          }
        },
        async close() {},
      };
    },
  };
}
