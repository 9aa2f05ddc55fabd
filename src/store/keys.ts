// LevelDB key layout of the store. Every mailbox key starts with the account id (DESIGN principle 6).
// Numbers are fixed-width hex so that key order is numeric order.

import type { AccountId, FolderId, Uid } from './types.ts';

const sep = '\u0000';
const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

export const keys = {
  applied: `S${sep}applied`,
  tenant: (id: string) => `T${sep}${id}`,
  domain: (name: string) => `D${sep}${name}`,
  /** Address -> account or alias; also the prefix for listing a domain's addresses. */
  address: (address: string) => `A${sep}${address}`,
  addressPrefix: `A${sep}`,
  /** A domain's addresses (accounts and aliases), so a domain with users cannot be removed. */
  domainAddress: (domain: string, address: string) => `d${sep}${domain}${sep}${address}`,
  domainAddressPrefix: (domain: string) => `d${sep}${domain}${sep}`,
  domainSetting: (domain: string, key: string) => `s${sep}${domain}${sep}${key}`,
  domainSettingPrefix: (domain: string) => `s${sep}${domain}${sep}`,
  account: (id: AccountId) => `a${sep}${id}`,
  accountSetting: (a: AccountId, key: string) => `c${sep}${a}${sep}${key}`,
  accountSettingPrefix: (a: AccountId) => `c${sep}${a}${sep}`,
  accountPrefix: `a${sep}`,
  folder: (a: AccountId, f: FolderId) => `f${sep}${a}${sep}${hex(f, 8)}`,
  folderPrefix: (a: AccountId) => `f${sep}${a}${sep}`,
  folderName: (a: AccountId, name: string) => `n${sep}${a}${sep}${name}`,
  message: (a: AccountId, f: FolderId, uid: Uid) => `m${sep}${a}${sep}${hex(f, 8)}${sep}${hex(uid, 8)}`,
  messagePrefix: (a: AccountId, f: FolderId) => `m${sep}${a}${sep}${hex(f, 8)}${sep}`,
  /** A message's extras (MessageExtras), beside its record so that flag listings stay small. */
  messageExtras: (a: AccountId, f: FolderId, uid: Uid) => `x${sep}${a}${sep}${hex(f, 8)}${sep}${hex(uid, 8)}`,
  messageExtrasPrefix: (a: AccountId, f: FolderId) => `x${sep}${a}${sep}${hex(f, 8)}${sep}`,
  /** Blob reference count: how many messages point at a body. */
  blobRefs: (blobId: string) => `B${sep}${blobId}`,
  /** Request-id dedup table, and its eviction queue in log order. */
  request: (id: string) => `R${sep}${id}`,
  requestQueue: (logIndex: number) => `Q${sep}${hex(logIndex, 14)}`,
  requestQueuePrefix: `Q${sep}`,
};

/** The upper bound of a prefix range (`lt`). */
export function prefixEnd(prefix: string): string {
  return prefix + '\uffff';
}
