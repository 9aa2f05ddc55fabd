// Store value types: identifiers and the records the replicated state machine keeps.
// Plain data; every record is keyed by account so the metadata can later be sharded (DESIGN principle 6).

/** An account's stable id, decided in apply from the log index that created it. */
export type AccountId = string & { readonly __brand: 'AccountId' };
/** A folder's id inside its account; never reused, so a recreated folder is a new folder. */
export type FolderId = number & { readonly __brand: 'FolderId' };
/** IMAP UID (RFC 9051 §2.3.1.1): strictly ascending per folder, never reused within a UIDVALIDITY. */
export type Uid = number & { readonly __brand: 'Uid' };
export type UidValidity = number & { readonly __brand: 'UidValidity' };
/** RFC 7162 mod-sequence: 63 bits, only grows. */
export type ModSeq = bigint & { readonly __brand: 'ModSeq' };
/** SHA-256 hex of a message body in the blob store. */
export type BlobId = string;

export type SpecialUse = '\\Drafts' | '\\Sent' | '\\Junk' | '\\Trash' | '\\Archive';

/** Folders every account is created with (RFC 6154 special-use). */
export const defaultFolders: readonly { name: string; specialUse: SpecialUse | null }[] = [
  { name: 'INBOX', specialUse: null },
  { name: 'Drafts', specialUse: '\\Drafts' },
  { name: 'Sent', specialUse: '\\Sent' },
  { name: 'Junk', specialUse: '\\Junk' },
  { name: 'Trash', specialUse: '\\Trash' },
  { name: 'Archive', specialUse: '\\Archive' },
];

export interface TenantRecord {
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
}

export interface DomainRecord {
  readonly name: string;
  readonly tenant: string;
  readonly createdAt: number;
}

export interface AccountRecord {
  readonly id: AccountId;
  readonly address: string;
  readonly domain: string;
  readonly tenant: string;
  readonly passwordHash: string;
  /** 0 = unlimited. */
  readonly quotaBytes: number;
  readonly usedBytes: number;
  readonly messages: number;
  readonly nextFolderId: number;
  /** Highest UIDVALIDITY handed out in this account: a recreated folder always gets a larger one. */
  readonly lastUidValidity: number;
  readonly createdAt: number;
}

export interface FolderRecord {
  readonly id: FolderId;
  readonly name: string;
  readonly specialUse: SpecialUse | null;
  readonly uidValidity: UidValidity;
  readonly uidNext: Uid;
  readonly highestModSeq: ModSeq;
  readonly exists: number;
  readonly bytes: number;
  readonly subscribed: boolean;
}

export interface MessageRecord {
  readonly uid: Uid;
  readonly blobId: BlobId;
  readonly size: number;
  /** Milliseconds since the epoch (IMAP INTERNALDATE), decided by the command, never per replica. */
  readonly internalDate: number;
  /** System flags and keywords, sorted, each once. */
  readonly flags: readonly string[];
  readonly modSeq: ModSeq;
}

/**
 * What is kept beside a message and read only when asked for: the MIME summary computed once at
 * delivery (ENVELOPE, BODYSTRUCTURE, part offsets; opaque bytes to the store) and the washer's
 * decision (scores, rules, outcome) for tracking. Copied with the message, deleted with it.
 */
export interface MessageExtras {
  readonly summary?: Uint8Array;
  readonly filter?: Readonly<Record<string, unknown>>;
}

/** An address resolves to an account or to an alias (catch-all: `@domain`). */
export type AddressEntry =
  | { readonly kind: 'account'; readonly accountId: AccountId }
  | { readonly kind: 'alias'; readonly targets: readonly string[] };

/** What changed in one folder, told to open sessions (IMAP IDLE, POP3 does not care). */
export interface FolderChange {
  readonly accountId: AccountId;
  readonly folderId: FolderId;
  readonly kind: 'exists' | 'expunge' | 'flags' | 'folder';
  readonly uids: readonly Uid[];
  readonly modSeq: ModSeq;
}

export function normalizeAddress(address: string): string {
  return address.trim().toLowerCase();
}

export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1);
}
