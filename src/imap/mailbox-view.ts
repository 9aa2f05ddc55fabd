// One session's view of its selected folder: sequence numbers -> UIDs, flags and mod-sequences as last told
// to the client, and the changes the store reported since (RFC 9051 §7.5.1, RFC 7162). Must not write to
// the store nor decide when expunges may be told: the session passes `allowExpunge` (§7.4.1).

import { imapPendingChangesMax, imapSelectMessagesMax, imapStorePageMessages } from './limits.ts';
import { flagList } from './proto/encode.ts';
import { formatSequence, lowerBound } from './proto/sequence.ts';
import type { AccountId, FolderChange, FolderId, FolderRecord, MessageRecord, StoreQueries, Uid } from '../store/index.ts';

export interface ViewOptions {
  /** CONDSTORE is on: FETCH responses carry MODSEQ (RFC 7162 §3.1). */
  readonly condstore: boolean;
  /** QRESYNC is on: VANISHED replaces EXPUNGE (RFC 7162 §3.2.10). */
  readonly qresync: boolean;
}

export class MailboxView {
  readonly accountId: AccountId;
  readonly folderId: FolderId;
  readonly uidValidity: number;
  readonly readOnly: boolean;
  name: string;
  specialUse: FolderRecord['specialUse'];
  /** UIDs in sequence order: uids[seq - 1]. */
  uids: Uid[] = [];
  readonly flags = new Map<Uid, readonly string[]>();
  readonly modSeqs = new Map<Uid, bigint>();
  highestModSeq: bigint;
  /** Largest UID ever in view (new messages come after it). */
  lastUid = 0;
  /** RFC 5182 SEARCHRES: UIDs saved by SEARCH ... RETURN (SAVE). */
  saved: Uid[] = [];

  private newPending = false;
  private readonly expungePending = new Set<Uid>();
  private readonly flagsPending = new Set<Uid>();
  private rescan = false;
  private folderChanged = false;

  constructor(folder: FolderRecord, accountId: AccountId, readOnly: boolean) {
    this.accountId = accountId;
    this.folderId = folder.id;
    this.uidValidity = folder.uidValidity;
    this.readOnly = readOnly;
    this.name = folder.name;
    this.specialUse = folder.specialUse;
    this.highestModSeq = folder.highestModSeq;
  }

  /** Reads the folder's messages; call after subscribing to changes so none is missed in between. */
  async load(q: StoreQueries): Promise<void> {
    for await (const m of scanMessages(q, this.accountId, this.folderId, 1)) {
      if (this.uids.length >= imapSelectMessagesMax) break;
      this.add(m);
    }
  }

  private add(m: MessageRecord): void {
    this.uids.push(m.uid);
    this.flags.set(m.uid, m.flags);
    this.modSeqs.set(m.uid, m.modSeq);
    this.lastUid = Math.max(this.lastUid, m.uid);
  }

  get exists(): number {
    return this.uids.length;
  }

  /** 1-based sequence number of a UID, 0 when not in view. */
  seqOf(uid: number): number {
    const i = lowerBound(this.uids, uid);
    return this.uids[i] === uid ? i + 1 : 0;
  }

  /**
   * UIDs in `ranges` (up to the last UID seen) that are not in the view: what QRESYNC reports as
   * VANISHED (EARLIER), RFC 7162 §3.2.5.1 (a superset is allowed). Ranges, so the cost follows the view.
   */
  missingIn(ranges: readonly [number, number][]): string {
    const out: string[] = [];
    for (const [lo, rawHi] of ranges) {
      const hi = Math.min(rawHi, this.lastUid);
      let next = lo;
      for (let i = lowerBound(this.uids, lo); i < this.uids.length && this.uids[i]! <= hi; i++) {
        const u = this.uids[i]!;
        if (u > next) out.push(u - 1 === next ? `${next}` : `${next}:${u - 1}`);
        next = u + 1;
      }
      if (next <= hi) out.push(hi === next ? `${next}` : `${next}:${hi}`);
    }
    return out.join(',');
  }

  /** A store change for this folder (called from the change feed). */
  onChange(c: FolderChange): void {
    if (c.kind === 'exists') this.newPending = true;
    else if (c.kind === 'folder') this.folderChanged = true;
    else {
      const set = c.kind === 'expunge' ? this.expungePending : this.flagsPending;
      for (const u of c.uids) set.add(u);
      if (set.size > imapPendingChangesMax) {
        this.rescan = true;
        set.clear();
      }
    }
  }

  get dirty(): boolean {
    return this.newPending || this.rescan || this.folderChanged || this.expungePending.size > 0 || this.flagsPending.size > 0;
  }

  /** The session itself removed these UIDs: drop them and return the lines that tell the client. */
  expunged(uids: readonly Uid[], o: ViewOptions): string[] {
    const gone = new Set(uids.filter((u) => this.flags.has(u)));
    if (gone.size === 0) return [];
    const lines: string[] = [];
    if (o.qresync) lines.push(`* VANISHED ${formatSequence([...gone])}\r\n`);
    else {
      // Highest first, so each number is right at the time the client reads it (RFC 9051 §7.5.1 example).
      for (let i = this.uids.length - 1; i >= 0; i--) if (gone.has(this.uids[i]!)) lines.push(`* ${i + 1} EXPUNGE\r\n`);
    }
    this.uids = this.uids.filter((u) => !gone.has(u));
    for (const u of gone) {
      this.flags.delete(u);
      this.modSeqs.delete(u);
      this.expungePending.delete(u);
    }
    return lines;
  }

  /** The session changed these flags itself (its own STORE reply tells the client). */
  noteFlags(uid: Uid, flags: readonly string[], modSeq: bigint): void {
    if (!this.flags.has(uid)) return;
    this.flags.set(uid, flags);
    this.modSeqs.set(uid, modSeq);
    if (modSeq > this.highestModSeq) this.highestModSeq = modSeq;
  }

  fetchFlagsLine(uid: Uid, o: ViewOptions): string {
    const seq = this.seqOf(uid);
    const modseq = o.condstore ? ` MODSEQ (${this.modSeqs.get(uid) ?? 0n})` : '';
    return `* ${seq} FETCH (UID ${uid} FLAGS ${flagList(this.flags.get(uid) ?? [])}${modseq})\r\n`;
  }

  /**
   * Brings the view up to date with the store and returns the untagged responses that tell the client:
   * EXPUNGE/VANISHED (only when allowed), EXISTS, FETCH FLAGS. `gone` when the folder was deleted or renamed away.
   */
  async sync(q: StoreQueries, allowExpunge: boolean, o: ViewOptions): Promise<{ lines: string[]; gone: boolean }> {
    const lines: string[] = [];
    if (this.folderChanged) {
      this.folderChanged = false;
      const f = await q.folder(this.accountId, this.folderId);
      if (!f || f.uidValidity !== this.uidValidity) return { lines, gone: true };
      this.name = f.name;
    }
    if (this.rescan) {
      await this.rescanAll(q, allowExpunge, o, lines);
      return { lines, gone: false };
    }
    if (allowExpunge && this.expungePending.size > 0) {
      const uids = [...this.expungePending];
      this.expungePending.clear();
      lines.push(...this.expunged(uids, o));
    }
    if (this.newPending) {
      this.newPending = false;
      const before = this.uids.length;
      for await (const m of scanMessages(q, this.accountId, this.folderId, this.lastUid + 1)) {
        if (this.uids.length >= imapSelectMessagesMax) break;
        this.add(m);
        if (m.modSeq > this.highestModSeq) this.highestModSeq = m.modSeq;
      }
      if (this.uids.length !== before) lines.push(`* ${this.uids.length} EXISTS\r\n`);
    }
    if (this.flagsPending.size > 0) {
      const uids = [...this.flagsPending].sort((a, b) => a - b);
      this.flagsPending.clear();
      for (const uid of uids) {
        if (!this.flags.has(uid)) continue;
        const m = await q.message(this.accountId, this.folderId, uid);
        if (m) this.flagsChanged(m, o, lines);
      }
    }
    return { lines, gone: false };
  }

  private flagsChanged(m: MessageRecord, o: ViewOptions, lines: string[]): void {
    if (this.modSeqs.get(m.uid) === m.modSeq) return;
    this.flags.set(m.uid, m.flags);
    this.modSeqs.set(m.uid, m.modSeq);
    if (m.modSeq > this.highestModSeq) this.highestModSeq = m.modSeq;
    lines.push(this.fetchFlagsLine(m.uid, o));
  }

  /** Too many changes to track one by one: compare the whole folder. */
  private async rescanAll(q: StoreQueries, allowExpunge: boolean, o: ViewOptions, lines: string[]): Promise<void> {
    const present = new Map<Uid, MessageRecord>();
    for await (const m of scanMessages(q, this.accountId, this.folderId, 1)) present.set(m.uid, m);
    if (allowExpunge) {
      this.rescan = false;
      this.expungePending.clear();
      lines.push(...this.expunged(this.uids.filter((u) => !present.has(u)), o));
    }
    this.newPending = false;
    this.flagsPending.clear();
    const before = this.uids.length;
    for (const m of present.values()) {
      if (m.uid > this.lastUid && this.uids.length < imapSelectMessagesMax) this.add(m);
    }
    if (this.uids.length !== before) lines.push(`* ${this.uids.length} EXISTS\r\n`);
    for (const m of present.values()) if (this.flags.has(m.uid)) this.flagsChanged(m, o, lines);
  }
}

/** A folder's messages from `fromUid` in UID order, read a page at a time. */
export async function* scanMessages(q: StoreQueries, a: AccountId, f: FolderId, fromUid: number): AsyncGenerator<MessageRecord> {
  let from = fromUid;
  for (;;) {
    const page = await q.messages(a, f, imapStorePageMessages, from as Uid);
    for (const m of page) yield m;
    if (page.length < imapStorePageMessages) return;
    from = page[page.length - 1]!.uid + 1;
  }
}
