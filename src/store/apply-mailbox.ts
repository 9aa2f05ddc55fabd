// Apply for mailbox commands: folders, append, flags, expunge, copy and move. Deterministic.
// UIDs, UIDVALIDITY and MODSEQ are decided here from the log, never per replica (DESIGN principle 5).

import type { ApplyContext } from './apply.ts';
import type { Command } from './commands.ts';
import { type ApplyResult, fail, ok } from './errors.ts';
import { keys } from './keys.ts';
import { storeLimits } from './limits.ts';
import { packr } from './tx.ts';
import type {
  AccountId,
  AccountRecord,
  FolderId,
  FolderRecord,
  MessageExtras,
  MessageRecord,
  ModSeq,
  SpecialUse,
  Uid,
  UidValidity,
} from './types.ts';

type Cmd<T extends Command['type']> = Extract<Command, { type: T }>;

/** INBOX is case-insensitive (RFC 9051 §5.1); every other name is kept as given. */
export function normalizeFolderName(name: string): string {
  return name.toUpperCase() === 'INBOX' ? 'INBOX' : name;
}

function validFolderName(name: string): string | undefined {
  if (name.length === 0) return 'a folder name cannot be empty';
  if (Buffer.byteLength(name) > storeLimits.folderNameBytesMax) return `a folder name is at most ${storeLimits.folderNameBytesMax} bytes`;
  if (name.startsWith('/') || name.endsWith('/') || name.includes('//')) return 'empty hierarchy level in folder name';
  if (/[\u0000-\u001f\u007f*%]/u.test(name)) return 'control characters and the wildcards * % are not allowed in folder names';
  return undefined;
}

/** Create a folder record in `account` (synchronous: the caller writes the account back). */
export function createFolderIn(cx: ApplyContext, account: AccountRecord, name: string, specialUse: SpecialUse | null, at: number): AccountRecord {
  const id = account.nextFolderId as FolderId;
  // UIDVALIDITY grows with time and strictly per account, so a recreated name never reuses one (RFC 9051 §2.3.1.1).
  const uidValidity = Math.max(account.lastUidValidity + 1, Math.floor(at / 1000)) as UidValidity;
  const folder: FolderRecord = {
    id,
    name,
    specialUse,
    uidValidity,
    uidNext: 1 as Uid,
    highestModSeq: 1n as ModSeq,
    exists: 0,
    bytes: 0,
    subscribed: true,
  };
  cx.tx.put(keys.folder(account.id, id), folder);
  cx.tx.put(keys.folderName(account.id, name), id);
  return { ...account, nextFolderId: id + 1, lastUidValidity: uidValidity };
}

async function account(cx: ApplyContext, id: AccountId): Promise<AccountRecord | undefined> {
  return cx.tx.get<AccountRecord>(keys.account(id));
}

async function folderByName(cx: ApplyContext, a: AccountId, name: string): Promise<FolderRecord | undefined> {
  const id = await cx.tx.get<FolderId>(keys.folderName(a, normalizeFolderName(name)));
  return id === undefined ? undefined : cx.tx.get<FolderRecord>(keys.folder(a, id));
}

async function folderById(cx: ApplyContext, a: AccountId, id: FolderId): Promise<FolderRecord | undefined> {
  return cx.tx.get<FolderRecord>(keys.folder(a, id));
}

export async function createFolder(cx: ApplyContext, c: Cmd<'createFolder'>): Promise<ApplyResult<{ folderId: FolderId; uidValidity: UidValidity }>> {
  const a = await account(cx, c.accountId);
  if (!a) return fail('NOT_FOUND', `no account ${c.accountId}`);
  const name = normalizeFolderName(c.name);
  const invalid = validFolderName(name);
  if (invalid) return fail('INVALID', invalid);
  if (await folderByName(cx, a.id, name)) return fail('EXISTS', `folder ${name} exists`);
  const count = (await cx.tx.scan(keys.folderPrefix(a.id), storeLimits.foldersPerAccountMax)).length;
  if (count >= storeLimits.foldersPerAccountMax) return fail('INVALID', `at most ${storeLimits.foldersPerAccountMax} folders per account`);
  const next = createFolderIn(cx, a, name, c.specialUse, c.at);
  cx.tx.put(keys.account(a.id), next);
  const folderId = a.nextFolderId as FolderId;
  cx.change({ accountId: a.id, folderId, kind: 'folder', uids: [], modSeq: 1n as ModSeq });
  return ok({ folderId, uidValidity: next.lastUidValidity as UidValidity });
}

export async function renameFolder(cx: ApplyContext, c: Cmd<'renameFolder'>): Promise<ApplyResult<null>> {
  const from = normalizeFolderName(c.from);
  const to = normalizeFolderName(c.to);
  const invalid = validFolderName(to);
  if (invalid) return fail('INVALID', invalid);
  if (to === 'INBOX' || (await folderByName(cx, c.accountId, to))) return fail('EXISTS', `folder ${to} exists`);
  if (from === 'INBOX') return renameInbox(cx, c.accountId, to, c.at);
  const all = await cx.tx.scan<FolderRecord>(keys.folderPrefix(c.accountId), storeLimits.foldersPerAccountMax);
  const moving = all.map(([, f]) => f).filter((f) => f.name === from || f.name.startsWith(`${from}/`));
  if (!moving.some((f) => f.name === from)) return fail('NOT_FOUND', `no folder ${from}`);
  // Inferior names move with their parent (RFC 9051 §6.3.6).
  for (const f of moving) {
    const name = to + f.name.slice(from.length);
    cx.tx.del(keys.folderName(c.accountId, f.name));
    cx.tx.put(keys.folderName(c.accountId, name), f.id);
    cx.tx.put(keys.folder(c.accountId, f.id), { ...f, name });
    cx.change({ accountId: c.accountId, folderId: f.id, kind: 'folder', uids: [], modSeq: f.highestModSeq });
  }
  return ok(null);
}

/**
 * RFC 9051 §6.3.6: renaming INBOX moves all its messages to a new folder with the new name; INBOX stays,
 * empty, and its inferior names are not renamed. The moved messages get UIDs 1..n in the new folder.
 */
async function renameInbox(cx: ApplyContext, accountId: AccountId, to: string, at: number): Promise<ApplyResult<null>> {
  const a = await account(cx, accountId);
  const inbox = await folderByName(cx, accountId, 'INBOX');
  if (!a || !inbox) return fail('NOT_FOUND', `no account ${accountId} or no INBOX`);
  const count = (await cx.tx.scan(keys.folderPrefix(a.id), storeLimits.foldersPerAccountMax)).length;
  if (count >= storeLimits.foldersPerAccountMax) return fail('INVALID', `at most ${storeLimits.foldersPerAccountMax} folders per account`);
  const dstId = a.nextFolderId as FolderId;
  cx.tx.put(keys.account(a.id), createFolderIn(cx, a, to, null, at));
  const dst = (await folderById(cx, a.id, dstId))!;
  const msgs = (await cx.tx.scan<MessageRecord>(keys.messagePrefix(a.id, inbox.id), storeLimits.messagesPerDeleteMax)).map(([, m]) => m);
  const modSeq = (dst.highestModSeq + 1n) as ModSeq;
  let uid = 1 as Uid;
  for (const m of msgs) {
    cx.tx.put(keys.message(a.id, dstId, uid), { ...m, uid, modSeq });
    const extras = await cx.tx.get<MessageExtras>(keys.messageExtras(a.id, inbox.id, m.uid));
    if (extras !== undefined) cx.tx.put(keys.messageExtras(a.id, dstId, uid), extras);
    cx.tx.del(keys.message(a.id, inbox.id, m.uid));
    cx.tx.del(keys.messageExtras(a.id, inbox.id, m.uid));
    uid = (uid + 1) as Uid;
  }
  cx.tx.put(keys.folder(a.id, dstId), { ...dst, uidNext: uid, highestModSeq: modSeq, exists: inbox.exists, bytes: inbox.bytes });
  const inboxModSeq = (inbox.highestModSeq + 1n) as ModSeq;
  cx.tx.put(keys.folder(a.id, inbox.id), { ...inbox, exists: 0, bytes: 0, highestModSeq: inboxModSeq });
  cx.change({ accountId: a.id, folderId: dstId, kind: 'folder', uids: [], modSeq });
  if (msgs.length > 0) cx.change({ accountId: a.id, folderId: inbox.id, kind: 'expunge', uids: msgs.map((m) => m.uid), modSeq: inboxModSeq });
  return ok(null);
}

export async function deleteFolder(cx: ApplyContext, c: Cmd<'deleteFolder'>): Promise<ApplyResult<null>> {
  const name = normalizeFolderName(c.name);
  if (name === 'INBOX') return fail('INVALID', 'INBOX cannot be deleted');
  const f = await folderByName(cx, c.accountId, name);
  if (!f) return fail('NOT_FOUND', `no folder ${name}`);
  // RFC 9051 §6.3.5: a folder with inferior names may be deleted; its messages go and the name stays only
  // as the children's parent, which LIST then shows as \NonExistent (\Noselect). The children are kept.
  await deleteMessages(cx, c.accountId, f.id, null);
  cx.tx.del(keys.folder(c.accountId, f.id));
  cx.tx.del(keys.folderName(c.accountId, name));
  cx.change({ accountId: c.accountId, folderId: f.id, kind: 'folder', uids: [], modSeq: f.highestModSeq });
  return ok(null);
}

export async function subscribe(cx: ApplyContext, c: Cmd<'subscribe'>): Promise<ApplyResult<null>> {
  const f = await folderByName(cx, c.accountId, c.name);
  if (!f) return fail('NOT_FOUND', `no folder ${c.name}`);
  cx.tx.put(keys.folder(c.accountId, f.id), { ...f, subscribed: c.subscribed });
  return ok(null);
}

/** Flags as stored: each once, sorted, \Recent never (RFC 9051 removed it). */
function cleanFlags(flags: readonly string[]): string[] | undefined {
  const set = new Set(flags.filter((f) => f.toLowerCase() !== '\\recent'));
  if (set.size > storeLimits.flagsPerMessageMax) return undefined;
  for (const f of set) if (f.length === 0 || Buffer.byteLength(f) > storeLimits.flagBytesMax) return undefined;
  return [...set].sort();
}

export interface AppendResult {
  readonly folderId: FolderId;
  readonly uid: Uid;
  readonly uidValidity: UidValidity;
  readonly modSeq: ModSeq;
}

export async function append(cx: ApplyContext, c: Cmd<'append'>): Promise<ApplyResult<AppendResult>> {
  const a = await account(cx, c.accountId);
  if (!a) return fail('NOT_FOUND', `no account ${c.accountId}`);
  const f = await folderByName(cx, a.id, c.folder);
  if (!f) return fail('NOT_FOUND', `no folder ${c.folder}`);
  const flags = cleanFlags(c.flags);
  if (!flags) return fail('INVALID', 'too many or malformed flags');
  if (!Number.isSafeInteger(c.size) || c.size < 0) return fail('INVALID', 'size must be a byte count');
  if (c.extras !== undefined && packr.pack(c.extras).length > storeLimits.messageExtrasBytesMax) {
    return fail('INVALID', `message extras exceed ${storeLimits.messageExtrasBytesMax} bytes`);
  }
  if (!c.ignoreQuota && a.quotaBytes > 0 && a.usedBytes + c.size > a.quotaBytes) {
    return fail('QUOTA_EXCEEDED', `${a.address} is over quota (${a.usedBytes} + ${c.size} > ${a.quotaBytes} bytes)`);
  }
  const modSeq = (f.highestModSeq + 1n) as ModSeq;
  const msg: MessageRecord = { uid: f.uidNext, blobId: c.blobId, size: c.size, internalDate: c.internalDate, flags, modSeq };
  cx.tx.put(keys.message(a.id, f.id, f.uidNext), msg);
  if (c.extras !== undefined) cx.tx.put(keys.messageExtras(a.id, f.id, f.uidNext), c.extras);
  cx.tx.put(keys.folder(a.id, f.id), { ...f, uidNext: (f.uidNext + 1) as Uid, highestModSeq: modSeq, exists: f.exists + 1, bytes: f.bytes + c.size });
  cx.tx.put(keys.account(a.id), { ...a, usedBytes: a.usedBytes + c.size, messages: a.messages + 1 });
  await cx.blobRef(c.blobId, +1);
  cx.change({ accountId: a.id, folderId: f.id, kind: 'exists', uids: [f.uidNext], modSeq });
  return ok({ folderId: f.id, uid: f.uidNext, uidValidity: f.uidValidity, modSeq });
}

async function messagesByUid(cx: ApplyContext, a: AccountId, f: FolderId, uids: readonly Uid[]): Promise<MessageRecord[]> {
  const out: MessageRecord[] = [];
  for (const uid of [...new Set(uids)].sort((x, y) => x - y)) {
    const m = await cx.tx.get<MessageRecord>(keys.message(a, f, uid));
    if (m) out.push(m);
  }
  return out;
}

function nextFlags(current: readonly string[], op: Cmd<'setFlags'>['op'], flags: readonly string[]): string[] {
  if (op === 'replace') return [...flags];
  if (op === 'add') return [...new Set([...current, ...flags])].sort();
  const drop = new Set(flags);
  return current.filter((f) => !drop.has(f));
}

export interface SetFlagsResult {
  readonly changed: readonly { uid: Uid; flags: readonly string[]; modSeq: ModSeq }[];
  /** RFC 7162 §3.1.3: messages whose mod-sequence exceeded UNCHANGEDSINCE, left unchanged. */
  readonly modified: readonly Uid[];
}

export async function setFlags(cx: ApplyContext, c: Cmd<'setFlags'>): Promise<ApplyResult<SetFlagsResult>> {
  if (c.uids.length > storeLimits.messagesPerCommandMax) return fail('INVALID', `at most ${storeLimits.messagesPerCommandMax} messages per command`);
  const f = await folderById(cx, c.accountId, c.folderId);
  if (!f) return fail('NOT_FOUND', `no folder ${c.folderId}`);
  const flags = cleanFlags(c.flags);
  if (!flags) return fail('INVALID', 'too many or malformed flags');
  // One command, one new mod-sequence for everything it changes (as Dovecot does per transaction).
  const modSeq = (f.highestModSeq + 1n) as ModSeq;
  const changed: { uid: Uid; flags: readonly string[]; modSeq: ModSeq }[] = [];
  const modified: Uid[] = [];
  for (const m of await messagesByUid(cx, c.accountId, f.id, c.uids)) {
    if (c.unchangedSince !== null && m.modSeq > c.unchangedSince) {
      modified.push(m.uid);
      continue;
    }
    const next = nextFlags(m.flags, c.op, flags);
    if (next.length > storeLimits.flagsPerMessageMax) return fail('INVALID', `at most ${storeLimits.flagsPerMessageMax} flags per message`);
    if (next.join(' ') === m.flags.join(' ')) continue;
    cx.tx.put(keys.message(c.accountId, f.id, m.uid), { ...m, flags: next, modSeq });
    changed.push({ uid: m.uid, flags: next, modSeq });
  }
  if (changed.length > 0) {
    cx.tx.put(keys.folder(c.accountId, f.id), { ...f, highestModSeq: modSeq });
    cx.change({ accountId: c.accountId, folderId: f.id, kind: 'flags', uids: changed.map((x) => x.uid), modSeq });
  }
  return ok({ changed, modified });
}

/** Remove messages (all with \Deleted when uids is null); updates folder, account and blob references. */
export async function deleteMessages(cx: ApplyContext, a: AccountId, folderId: FolderId, uids: readonly Uid[] | null): Promise<Uid[]> {
  const f = await folderById(cx, a, folderId);
  if (!f) return [];
  const candidates =
    uids === null
      ? (await cx.tx.scan<MessageRecord>(keys.messagePrefix(a, f.id), storeLimits.messagesPerDeleteMax)).map(([, m]) => m)
      : await messagesByUid(cx, a, f.id, uids);
  let bytes = 0;
  const gone: Uid[] = [];
  for (const m of candidates) {
    cx.tx.del(keys.message(a, f.id, m.uid));
    cx.tx.del(keys.messageExtras(a, f.id, m.uid));
    bytes += m.size;
    gone.push(m.uid);
    await cx.blobRef(m.blobId, -1);
  }
  if (gone.length === 0) return gone;
  const modSeq = (f.highestModSeq + 1n) as ModSeq;
  cx.tx.put(keys.folder(a, f.id), { ...f, exists: f.exists - gone.length, bytes: f.bytes - bytes, highestModSeq: modSeq });
  const acc = await account(cx, a);
  if (acc) cx.tx.put(keys.account(a), { ...acc, usedBytes: acc.usedBytes - bytes, messages: acc.messages - gone.length });
  cx.change({ accountId: a, folderId: f.id, kind: 'expunge', uids: gone, modSeq });
  return gone;
}

export async function expunge(cx: ApplyContext, c: Cmd<'expunge'>): Promise<ApplyResult<{ expunged: Uid[] }>> {
  if (c.uids !== null && c.uids.length > storeLimits.messagesPerCommandMax) return fail('INVALID', `at most ${storeLimits.messagesPerCommandMax} messages per command`);
  const f = await folderById(cx, c.accountId, c.folderId);
  if (!f) return fail('NOT_FOUND', `no folder ${c.folderId}`);
  // EXPUNGE and UID EXPUNGE remove only messages flagged \Deleted (RFC 9051 §6.4.3, RFC 4315 §2.1).
  const pool =
    c.uids === null
      ? (await cx.tx.scan<MessageRecord>(keys.messagePrefix(c.accountId, f.id), storeLimits.messagesPerDeleteMax)).map(([, m]) => m)
      : await messagesByUid(cx, c.accountId, f.id, c.uids);
  const deleted = pool.filter((m) => m.flags.includes('\\Deleted')).map((m) => m.uid);
  return ok({ expunged: await deleteMessages(cx, c.accountId, f.id, deleted) });
}

export async function remove(cx: ApplyContext, c: Cmd<'remove'>): Promise<ApplyResult<{ removed: Uid[] }>> {
  if (c.uids.length > storeLimits.messagesPerCommandMax) return fail('INVALID', `at most ${storeLimits.messagesPerCommandMax} messages per command`);
  if (!(await folderById(cx, c.accountId, c.folderId))) return fail('NOT_FOUND', `no folder ${c.folderId}`);
  return ok({ removed: await deleteMessages(cx, c.accountId, c.folderId, c.uids) });
}

export interface CopyResult {
  /** RFC 4315 COPYUID: the destination's UIDVALIDITY and the source -> destination UID pairs. */
  readonly uidValidity: UidValidity;
  readonly sourceUids: readonly Uid[];
  readonly destUids: readonly Uid[];
}

export async function copy(cx: ApplyContext, c: Cmd<'copy'>): Promise<ApplyResult<CopyResult>> {
  if (c.uids.length > storeLimits.messagesPerCommandMax) return fail('INVALID', `at most ${storeLimits.messagesPerCommandMax} messages per command`);
  const a = await account(cx, c.accountId);
  const src = await folderById(cx, c.accountId, c.from);
  const dst = await folderById(cx, c.accountId, c.to);
  if (!a || !src || !dst) return fail('NOT_FOUND', 'no such account or folder');
  if (src.id === dst.id && c.move) return fail('INVALID', 'moving a message into its own folder');
  const msgs = await messagesByUid(cx, a.id, src.id, c.uids);
  const bytes = msgs.reduce((n, m) => n + m.size, 0);
  if (!c.move && a.quotaBytes > 0 && a.usedBytes + bytes > a.quotaBytes) {
    return fail('QUOTA_EXCEEDED', `${a.address} is over quota`);
  }
  const modSeq = (dst.highestModSeq + 1n) as ModSeq;
  let uid = dst.uidNext;
  const destUids: Uid[] = [];
  for (const m of msgs) {
    cx.tx.put(keys.message(a.id, dst.id, uid), { ...m, uid, modSeq });
    const extras = await cx.tx.get<MessageExtras>(keys.messageExtras(a.id, src.id, m.uid));
    if (extras !== undefined) cx.tx.put(keys.messageExtras(a.id, dst.id, uid), extras);
    await cx.blobRef(m.blobId, +1);
    destUids.push(uid);
    uid = (uid + 1) as Uid;
  }
  if (msgs.length > 0) {
    cx.tx.put(keys.folder(a.id, dst.id), { ...dst, uidNext: uid, highestModSeq: modSeq, exists: dst.exists + msgs.length, bytes: dst.bytes + bytes });
    cx.tx.put(keys.account(a.id), { ...a, usedBytes: a.usedBytes + bytes, messages: a.messages + msgs.length });
    cx.change({ accountId: a.id, folderId: dst.id, kind: 'exists', uids: destUids, modSeq });
    if (c.move) await deleteMessages(cx, a.id, src.id, msgs.map((m) => m.uid));
  }
  return ok({ uidValidity: dst.uidValidity, sourceUids: msgs.map((m) => m.uid), destUids });
}
