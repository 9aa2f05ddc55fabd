// The SMTP backend over the replicated store and the blob store: directory lookups, AUTH, delivery.
// Binds the protocol to storage; SMTP parsing and replies never import this.

import { createHash } from 'node:crypto';
import { statfs } from 'node:fs/promises';
import { type Blobs, BlobError } from '../blob/index.ts';
import { type AccountId as StoreAccountId, type Store, StoreError, domainOf, normalizeAddress } from '../store/index.ts';
import { checkLogin } from '../store/login.ts';
import { type AccountId, type DeliveryRequest, type RecipientVerdict, type SmtpBackend, accountId } from './backend.ts';
import { SmtpBackendError } from './errors.ts';

/** A stable request id per (message, account): a retried proposal of the same delivery applies once. */
function requestId(messageId: string, account: string): Uint8Array {
  return createHash('sha256').update(`${messageId}\u0000${account}`).digest().subarray(0, 16);
}

function translate(e: unknown): never {
  if (e instanceof SmtpBackendError) throw e;
  if (e instanceof BlobError && e.code === 'STORAGE_FULL') throw new SmtpBackendError('STORAGE_FULL', 'the disk is full', { cause: e });
  if (e instanceof StoreError && e.code === 'STORAGE') throw new SmtpBackendError('STORAGE_FULL', 'the store cannot write', { cause: e });
  if (e instanceof Error && e.message.includes('ENOSPC')) throw new SmtpBackendError('STORAGE_FULL', 'the disk is full', { cause: e });
  throw new SmtpBackendError('UNAVAILABLE', 'the store cannot take the message now', { cause: e });
}

export interface StoreSmtpBackendOptions {
  /**
   * Free bytes kept on the data disk for metadata (Raft log, store): a body that would leave less
   * is refused with 452 4.3.1 before it is written, so the store never meets a full disk while
   * mail keeps arriving (Postfix's queue_minfree). 0 turns the check off.
   */
  diskReserveBytes: number;
  /**
   * Computes the message's MIME summary once at delivery (ENVELOPE, BODYSTRUCTURE for IMAP), kept
   * with the message so that readers never parse the body again. Absent: no summary is kept.
   */
  summarize?: (body: AsyncIterable<Uint8Array>, sizeBytes: number) => Promise<Uint8Array>;
}

/** Free bytes for an unprivileged writer on the file system holding `dir`. */
async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

export function storeSmtpBackend(store: Store, blobs: Blobs, o: StoreSmtpBackendOptions): SmtpBackend {
  const q = store.queries;

  /** Local accounts an address reaches: itself, or an alias's local targets (one level). */
  async function accountsOf(address: string): Promise<StoreAccountId[] | undefined> {
    const entry = await q.resolveAddress(address);
    if (!entry) return undefined;
    if (entry.kind === 'account') return [entry.accountId];
    const ids: StoreAccountId[] = [];
    for (const t of entry.targets) {
      const target = await q.resolveAddress(t);
      if (target?.kind === 'account') ids.push(target.accountId);
    }
    return ids;
  }

  return {
    async isLocalDomain(domain) {
      return (await q.domain(domain)) !== undefined;
    },

    async resolveRecipient(address, ctx): Promise<RecipientVerdict> {
      const ids = await accountsOf(address.includes('@') ? address : `${address}@${(await q.domains(1))[0]?.name ?? ''}`);
      if (!ids || ids.length === 0) return { kind: 'unknown' };
      if (ids.length === 1) {
        const a = await q.account(ids[0]!);
        const incoming = ctx.declaredSizeBytes ?? 0;
        if (a && a.quotaBytes > 0 && a.usedBytes + incoming > a.quotaBytes) return { kind: 'over-quota', accountId: accountId(a.id) };
        return { kind: 'account', accountId: accountId(ids[0]!) };
      }
      return { kind: 'alias', accountIds: ids.map(accountId) };
    },

    async authenticate(username, password) {
      const a = await checkLogin(q, username, password);
      return a ? { accountId: accountId(a.id), username: a.address } : null;
    },

    async senderAllowed(principal, mailFrom) {
      if (mailFrom === '') return true; // DSNs and MDNs use the null sender (RFC 5321 §4.5.5)
      const ids = await accountsOf(normalizeAddress(mailFrom));
      return ids !== undefined && ids.includes(principal.accountId as string as StoreAccountId) && domainOf(mailFrom) !== '';
    },

    async deliver(req: DeliveryRequest) {
      // A node that knows of no leader (cut off from a majority, or an election under way) answers at
      // once: the client retries through the balancer on a node that can commit, instead of waiting
      // out the store's retry deadline here.
      if (store.status().leader === '') throw new SmtpBackendError('UNAVAILABLE', 'no Raft leader is known to this node now');
      let blobId: string;
      try {
        if (o.diskReserveBytes > 0 && (await freeBytes(blobs.dir)) - req.sizeBytes < o.diskReserveBytes) {
          throw new SmtpBackendError('STORAGE_FULL', `less than ${o.diskReserveBytes} bytes would stay free on the data disk`);
        }
        ({ id: blobId } = await blobs.put(req.body, { sizeMax: req.sizeBytes, pin: true }));
      } catch (e) {
        translate(e);
      }
      try {
        const accounts = [...new Set(req.recipients.flatMap((r) => r.accountIds))];
        const folderOf = accountFolders(req);
        if (req.enforceQuota) await checkQuotas(store, accounts, req.sizeBytes);
        const summary = o.summarize ? await o.summarize(req.body, req.sizeBytes) : undefined;
        const extras = summary !== undefined || req.filter !== undefined ? { ...(summary ? { summary } : {}), ...(req.filter ? { filter: req.filter } : {}) } : undefined;
        await Promise.all(
          accounts.map((a) =>
            store.execute(
              { type: 'append', accountId: a as string as StoreAccountId, folder: folderOf(a), blobId, size: req.sizeBytes, internalDate: req.receivedAtMs, flags: [], ignoreQuota: !req.enforceQuota, ...(extras ? { extras } : {}) },
              { requestId: requestId(req.id, a), at: req.receivedAtMs },
            ),
          ),
        ).catch((e: unknown) => {
          if (e instanceof StoreError && e.code === 'QUOTA_EXCEEDED') throw new SmtpBackendError('QUOTA_EXCEEDED', e.message, { overQuota: accounts });
          translate(e);
        });
        return { storedId: blobId };
      } finally {
        blobs.unpin(blobId);
      }
    },
  };
}

/**
 * Each account's folder: Junk when every recipient address reaching it was filed as junk (an alias
 * and a direct address to one account that disagree give INBOX: the message is stored once).
 */
function accountFolders(req: DeliveryRequest): (account: AccountId) => 'INBOX' | 'Junk' {
  const junk = new Map<AccountId, boolean>();
  for (const r of req.recipients) {
    const isJunk = (req.recipientDispositions?.get(r.address) ?? req.disposition) === 'junk';
    for (const a of r.accountIds) junk.set(a, (junk.get(a) ?? true) && isJunk);
  }
  return (a) => ((junk.get(a) ?? req.disposition === 'junk') ? 'Junk' : 'INBOX');
}

/** Refuse before storing anything when the message does not fit some account (all or nothing). */
async function checkQuotas(store: Store, accounts: readonly AccountId[], size: number): Promise<void> {
  const over: AccountId[] = [];
  for (const id of accounts) {
    const a = await store.queries.account(id as string as StoreAccountId);
    if (a && a.quotaBytes > 0 && a.usedBytes + size > a.quotaBytes) over.push(id);
  }
  if (over.length > 0) throw new SmtpBackendError('QUOTA_EXCEEDED', `${over.length} account(s) over quota`, { overQuota: over });
}
