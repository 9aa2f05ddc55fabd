// Evaluates a SEARCH program (proto/search.ts) against the messages of a view: flags and numbers from the
// view and records, dates and headers from the MIME summary, bodies read only for keys that need them.

import { bodyMatches, headerMatches, textMatches } from '../../mime/index.ts';
import type { Uid } from '../../store/index.ts';
import type { MailboxView } from '../mailbox-view.ts';
import type { SearchKey } from '../proto/search.ts';
import { normalizeRanges } from '../proto/sequence.ts';
import { type MessageData, emailId, loadRecords, threadId } from './message-data.ts';
import type { Session } from './spec.ts';

const dayMs = 86_400_000;
const day = (ms: number): number => Math.floor(ms / dayMs) * dayMs;

function compareDay(ms: number, op: 'before' | 'on' | 'since', target: number): boolean {
  const d = day(ms);
  return op === 'before' ? d < target : op === 'on' ? d === target : d >= target;
}

function inSet(n: number, ranges: readonly [number, number][]): boolean {
  for (const [lo, hi] of ranges) if (n >= lo && n <= hi) return true;
  return false;
}

class Evaluator {
  private readonly v: MailboxView;
  private readonly now: number;
  private readonly seqRanges = new Map<SearchKey, [number, number][]>();

  constructor(v: MailboxView, now: number) {
    this.v = v;
    this.now = now;
  }

  private ranges(k: Extract<SearchKey, { k: 'seq' | 'uid' }>): [number, number][] | 'saved' {
    if (k.set.kind === 'saved') return 'saved';
    let r = this.seqRanges.get(k);
    if (!r) {
      const star = k.k === 'seq' ? this.v.exists : (this.v.uids[this.v.uids.length - 1] ?? 0);
      r = normalizeRanges(k.set, star);
      this.seqRanges.set(k, r);
    }
    return r;
  }

  async matches(k: SearchKey, m: MessageData): Promise<boolean> {
    const flags = this.v.flags.get(m.uid) ?? m.record.flags;
    switch (k.k) {
      case 'all':
      case 'old':
        return true;
      case 'new':
      case 'recent':
        return false;
      case 'flag':
        return flags.some((f) => f.toLowerCase() === k.flag.toLowerCase()) === k.set;
      case 'size':
        return k.larger ? m.record.size > k.n : m.record.size < k.n;
      case 'date': {
        const ms = k.sent ? ((await m.summary()).sentDate ?? m.record.internalDate) : m.record.internalDate;
        return compareDay(ms, k.op, k.ms);
      }
      case 'within':
        return k.older ? m.record.internalDate <= this.now - k.seconds * 1000 : m.record.internalDate >= this.now - k.seconds * 1000;
      case 'seq':
      case 'uid': {
        const r = this.ranges(k);
        if (r === 'saved') return this.v.saved.includes(m.uid);
        return inSet(k.k === 'seq' ? this.v.seqOf(m.uid) : m.uid, r);
      }
      case 'modseq':
        return m.record.modSeq >= k.modSeq;
      case 'emailid':
        return emailId(m.record.blobId) === k.id;
      case 'threadid':
        return threadId(await m.summary(), m.record.blobId) === k.id;
      case 'header':
        return headerMatches(await m.body(), await m.summary(), k.field, k.value);
      case 'body':
        return bodyMatches(await m.body(), await m.summary(), k.value);
      case 'text':
        return textMatches(await m.body(), await m.summary(), k.value);
      case 'not':
        return !(await this.matches(k.key, m));
      case 'or':
        return (await this.matches(k.a, m)) || (await this.matches(k.b, m));
      case 'and':
        for (const x of k.keys) if (!(await this.matches(x, m))) return false;
        return true;
    }
  }
}

/** True when some key reads the message itself (header, body and text searches). */
function needsBody(k: SearchKey): boolean {
  switch (k.k) {
    case 'header':
    case 'body':
    case 'text':
      return true;
    case 'not':
      return needsBody(k.key);
    case 'or':
      return needsBody(k.a) || needsBody(k.b);
    case 'and':
      return k.keys.some(needsBody);
    default:
      return false;
  }
}

/** Messages evaluated per batch, and bodies read at once within a batch (disk reads overlap). */
const evalBatchMessages = 256;
const bodyReadsParallel = 16;

/** The messages of the view that match, in sequence order, with their data (for SORT and THREAD). */
export async function evaluate(s: Session, v: MailboxView, key: SearchKey): Promise<MessageData[]> {
  const ev = new Evaluator(v, Date.now());
  const out: MessageData[] = [];
  const prefetch = needsBody(key);
  for (let i = 0; i < v.uids.length && s.open; i += evalBatchMessages) {
    const msgs = await loadRecords(s, v, v.uids.slice(i, i + evalBatchMessages) as Uid[]);
    const results: boolean[] = [];
    for (let j = 0; j < msgs.length; j += bodyReadsParallel) {
      const group = msgs.slice(j, j + bodyReadsParallel);
      if (prefetch) await Promise.all(group.map((m) => m.body()));
      for (const m of group) results.push(await ev.matches(key, m));
    }
    msgs.forEach((m, j) => {
      m.releaseBody();
      if (results[j]) out.push(m);
    });
  }
  return out;
}
