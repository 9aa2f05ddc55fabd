// Read-side queries over the applied store state. Never writes; callers decide consistency
// (a proposer sees its own writes once its proposal resolved: it was applied on this node).

import { keys, prefixEnd } from './keys.ts';
import { type Db, packr } from './tx.ts';
import type {
  AccountId,
  AccountRecord,
  AddressEntry,
  DomainRecord,
  FolderId,
  FolderRecord,
  MessageExtras,
  MessageRecord,
  Uid,
} from './types.ts';
import { domainOf, normalizeAddress } from './types.ts';
import { normalizeFolderName } from './apply-mailbox.ts';

async function get<T>(db: Db, key: string): Promise<T | undefined> {
  const raw = await db.get(key);
  return raw === undefined ? undefined : (packr.unpack(raw) as T);
}

async function scan<T>(db: Db, prefix: string, limit: number, from?: string): Promise<T[]> {
  const out: T[] = [];
  for await (const v of db.values({ gte: from ?? prefix, lt: prefixEnd(prefix), limit })) out.push(packr.unpack(v) as T);
  return out;
}

export class StoreQueries {
  private readonly db: Db;

  constructor(db: Db) {
    this.db = db;
  }

  domain(name: string): Promise<DomainRecord | undefined> {
    return get(this.db, keys.domain(name.toLowerCase()));
  }

  domains(limit: number): Promise<DomainRecord[]> {
    return scan(this.db, 'D\u0000', limit);
  }

  /** An address as hosted: its own entry, else the domain's catch-all alias `@domain`. */
  async resolveAddress(address: string): Promise<AddressEntry | undefined> {
    const a = normalizeAddress(address);
    return (await get<AddressEntry>(this.db, keys.address(a))) ?? get<AddressEntry>(this.db, keys.address(`@${domainOf(a)}`));
  }

  account(id: AccountId): Promise<AccountRecord | undefined> {
    return get(this.db, keys.account(id));
  }

  async accountByAddress(address: string): Promise<AccountRecord | undefined> {
    const e = await get<AddressEntry>(this.db, keys.address(normalizeAddress(address)));
    return e?.kind === 'account' ? this.account(e.accountId) : undefined;
  }

  /** Addresses of a domain (accounts and aliases), in order. */
  async addresses(domain: string, limit: number): Promise<{ address: string; entry: AddressEntry }[]> {
    const out: { address: string; entry: AddressEntry }[] = [];
    const prefix = keys.domainAddressPrefix(domain.toLowerCase());
    for await (const k of this.db.keys({ gte: prefix, lt: prefixEnd(prefix), limit })) {
      const address = k.slice(prefix.length);
      const entry = await get<AddressEntry>(this.db, keys.address(address));
      if (entry) out.push({ address, entry });
    }
    return out;
  }

  folders(accountId: AccountId, limit: number): Promise<FolderRecord[]> {
    return scan(this.db, keys.folderPrefix(accountId), limit);
  }

  async folderByName(accountId: AccountId, name: string): Promise<FolderRecord | undefined> {
    const id = await get<FolderId>(this.db, keys.folderName(accountId, normalizeFolderName(name)));
    return id === undefined ? undefined : get(this.db, keys.folder(accountId, id));
  }

  folder(accountId: AccountId, id: FolderId): Promise<FolderRecord | undefined> {
    return get(this.db, keys.folder(accountId, id));
  }

  /** Messages of a folder in UID order, starting at `fromUid`. */
  messages(accountId: AccountId, folderId: FolderId, limit: number, fromUid: Uid = 1 as Uid): Promise<MessageRecord[]> {
    return scan(this.db, keys.messagePrefix(accountId, folderId), limit, keys.message(accountId, folderId, fromUid));
  }

  message(accountId: AccountId, folderId: FolderId, uid: Uid): Promise<MessageRecord | undefined> {
    return get(this.db, keys.message(accountId, folderId, uid));
  }

  /** A domain's setting under `key` (plain data owned by its reader), if set. */
  domainSetting<T>(domain: string, key: string): Promise<T | undefined> {
    return get(this.db, keys.domainSetting(domain.toLowerCase(), key));
  }

  /** An account's setting under `key`, if set. */
  accountSetting<T>(accountId: AccountId, key: string): Promise<T | undefined> {
    return get(this.db, keys.accountSetting(accountId, key));
  }

  /** A message's extras (MIME summary, washer record), if it has any. */
  messageExtras(accountId: AccountId, folderId: FolderId, uid: Uid): Promise<MessageExtras | undefined> {
    return get(this.db, keys.messageExtras(accountId, folderId, uid));
  }

  /** Extras of a folder's messages in UID order from `fromUid`; messages without extras are absent. */
  async messagesExtras(accountId: AccountId, folderId: FolderId, limit: number, fromUid: Uid = 1 as Uid): Promise<Map<Uid, MessageExtras>> {
    const prefix = keys.messageExtrasPrefix(accountId, folderId);
    const out = new Map<Uid, MessageExtras>();
    for await (const [k, v] of this.db.iterator({ gte: keys.messageExtras(accountId, folderId, fromUid), lt: prefixEnd(prefix), limit })) {
      out.set(Number.parseInt(k.slice(prefix.length), 16) as Uid, packr.unpack(v) as MessageExtras);
    }
    return out;
  }

  /**
   * Ids of referenced bodies (reference count above zero) greater than `afterId` ('' = from the
   * first), in id order, at most `limit`: the blob repair loop's resumable sweep.
   */
  async blobIds(afterId: string, limit: number): Promise<string[]> {
    const prefix = keys.blobRefs('');
    const out: string[] = [];
    for await (const k of this.db.keys({ gt: keys.blobRefs(afterId), lt: prefixEnd(prefix), limit })) out.push(k.slice(prefix.length));
    return out;
  }

  /** How many messages reference a body; 0 means the blob may be collected. */
  async blobRefs(blobId: string): Promise<number> {
    return (await get<number>(this.db, keys.blobRefs(blobId))) ?? 0;
  }
}
