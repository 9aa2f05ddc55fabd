// Reading what FETCH, SEARCH, SORT and THREAD need about one message: its record, its MIME summary (kept
// at delivery; computed on the fly for older messages) and its body, each read once and only when asked.

import { createHash } from 'node:crypto';
import { type MessageSummary, decodeSummary, summarize } from '../../mime/index.ts';
import type { MessageExtras, MessageRecord, Uid } from '../../store/index.ts';
import type { MailboxView } from '../mailbox-view.ts';
import type { Session } from './spec.ts';

/** One message's data for one command; lazy and cached. */
export class MessageData {
  readonly uid: Uid;
  record: MessageRecord;
  private readonly s: Session;
  private readonly v: MailboxView;
  private summaryCache: MessageSummary | undefined;
  private bodyCache: Buffer | undefined;

  constructor(s: Session, v: MailboxView, record: MessageRecord) {
    this.s = s;
    this.v = v;
    this.uid = record.uid;
    this.record = record;
  }

  async body(): Promise<Buffer> {
    this.bodyCache ??= Buffer.from(await this.s.blobs.get(this.record.blobId));
    return this.bodyCache;
  }

  /** Forgets the body (kept results must not hold every matched message's bytes). */
  releaseBody(): void {
    this.bodyCache = undefined;
  }

  /** Extras read ahead with a range read for a whole batch (undefined: not read ahead, null: none stored). */
  extrasAhead: MessageExtras | null | undefined;

  async summary(): Promise<MessageSummary> {
    if (this.summaryCache) return this.summaryCache;
    const extras = this.extrasAhead !== undefined ? this.extrasAhead : await this.s.store.queries.messageExtras(this.v.accountId, this.v.folderId, this.uid);
    if (extras?.summary && extras.summary.length > 0) {
      try {
        this.summaryCache = decodeSummary(extras.summary);
        return this.summaryCache;
      } catch (e) {
        this.s.log.warn({ event: 'summary-corrupt', uid: this.uid, err: e instanceof Error ? e.message : String(e) }, 'stored summary unreadable: recomputing');
      }
    }
    // Older data without a summary: compute it now (not stored: reads never write).
    this.summaryCache = summarize(await this.body());
    return this.summaryCache;
  }
}

/**
 * The message records for `uids` (ascending), in order; expunged ones are absent. With `summaries`, their
 * extras are read ahead too. Dense UIDs take one range read each instead of one read per message.
 */
export async function loadRecords(s: Session, v: MailboxView, uids: readonly Uid[], o: { summaries?: boolean } = {}): Promise<MessageData[]> {
  const out: MessageData[] = [];
  const first = uids[0];
  const span = first === undefined ? 0 : uids[uids.length - 1]! - first + 1;
  if (first !== undefined && uids.length > 1 && span <= uids.length * 2) {
    const wanted = new Set<number>(uids);
    for (const r of await s.store.queries.messages(v.accountId, v.folderId, span, first)) if (wanted.has(r.uid)) out.push(new MessageData(s, v, r));
    if (o.summaries) {
      const extras = await s.store.queries.messagesExtras(v.accountId, v.folderId, span, first);
      for (const m of out) m.extrasAhead = extras.get(m.uid) ?? null;
    }
    return out;
  }
  for (const uid of uids) {
    const r = await s.store.queries.message(v.accountId, v.folderId, uid);
    if (r) out.push(new MessageData(s, v, r));
  }
  return out;
}

/** RFC 8474 EMAILID: the body's content address, shared by copies of the same message. */
export function emailId(blobId: string): string {
  return `M${blobId.slice(0, 24)}`;
}

/** RFC 8474 THREADID: derived from the thread's root Message-ID (first of References), so every replica agrees. */
export function threadId(summary: MessageSummary, blobId: string): string {
  const root = summary.references[0] ?? summary.messageId ?? blobId;
  return `T${createHash('sha256').update(root).digest('hex').slice(0, 24)}`;
}
