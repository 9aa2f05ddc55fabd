// The store's commands: serializable values proposed through Raft and applied deterministically.
// Time travels inside the command (`at`, ms since the epoch); nothing in apply reads a clock.

import type { AccountId, BlobId, FolderId, MessageExtras, SpecialUse, Uid } from './types.ts';
import { packr } from './tx.ts';

export type FlagOp = 'add' | 'remove' | 'replace';

export type Command =
  | { type: 'createTenant'; at: number; id: string; name: string }
  | { type: 'createDomain'; at: number; name: string; tenant: string }
  | { type: 'deleteDomain'; at: number; name: string }
  | { type: 'createAccount'; at: number; address: string; passwordHash: string; quotaBytes: number }
  | { type: 'setPassword'; at: number; address: string; passwordHash: string }
  | { type: 'setQuota'; at: number; address: string; quotaBytes: number }
  | { type: 'deleteAccount'; at: number; address: string }
  /**
   * A named setting of a domain or an account (the washer's thresholds and allow/block lists, for
   * example); the value is plain data owned by the subsystem that reads it, null removes it.
   */
  | { type: 'setDomainSetting'; at: number; name: string; key: string; value: unknown }
  | { type: 'setAccountSetting'; at: number; address: string; key: string; value: unknown }
  | { type: 'addAlias'; at: number; address: string; targets: string[] }
  | { type: 'removeAlias'; at: number; address: string }
  | { type: 'createFolder'; at: number; accountId: AccountId; name: string; specialUse: SpecialUse | null }
  | { type: 'renameFolder'; at: number; accountId: AccountId; from: string; to: string }
  | { type: 'deleteFolder'; at: number; accountId: AccountId; name: string }
  | { type: 'subscribe'; at: number; accountId: AccountId; name: string; subscribed: boolean }
  | {
      type: 'append';
      at: number;
      accountId: AccountId;
      /** Folder by name; a delivery names INBOX or Junk. */
      folder: string;
      blobId: BlobId;
      size: number;
      internalDate: number;
      flags: string[];
      /**
       * Deliveries and IMAP APPEND honour the quota (RFC 9208 OVERQUOTA). true only where the
       * front end already told the sender it accepted the message for this account.
       */
      ignoreQuota?: boolean;
      /** Kept beside the message (at most storeLimits.messageExtrasBytesMax encoded). */
      extras?: MessageExtras;
    }
  | {
      type: 'setFlags';
      at: number;
      accountId: AccountId;
      folderId: FolderId;
      uids: Uid[];
      op: FlagOp;
      flags: string[];
      /** RFC 7162 UNCHANGEDSINCE; null when absent. */
      unchangedSince: bigint | null;
    }
  | { type: 'expunge'; at: number; accountId: AccountId; folderId: FolderId; uids: Uid[] | null }
  /** Remove messages whatever their flags, in one step (POP3 UPDATE state, RFC 1939 §6). */
  | { type: 'remove'; at: number; accountId: AccountId; folderId: FolderId; uids: Uid[] }
  | { type: 'copy'; at: number; accountId: AccountId; from: FolderId; to: FolderId; uids: Uid[]; move: boolean };

export type CommandType = Command['type'];

export function encodeCommand(c: Command): Uint8Array {
  return packr.pack(c);
}

export function decodeCommand(data: Uint8Array): Command {
  const c = packr.unpack(data) as Command;
  if (typeof c !== 'object' || c === null || typeof c.type !== 'string' || typeof c.at !== 'number') {
    throw new Error('malformed store command');
  }
  return c;
}
