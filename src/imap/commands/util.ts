// Shared pieces of command handlers: store refusals as completions, sequence sets resolved against the
// session's view, folder lookups. No protocol parsing, no sockets.

import { StoreError, type FolderRecord, type Uid } from '../../store/index.ts';
import type { MailboxView } from '../mailbox-view.ts';
import { encodeMutf7 } from '../proto/mutf7.ts';
import { type SequenceSet, normalizeRanges, selectSorted } from '../proto/sequence.ts';
import { type Completion, type Session, bad, no } from './spec.ts';

/** A store refusal as the client should see it (RFC 5530 response codes). */
export function storeFailure(s: Session, e: unknown, what: string): Completion {
  if (!(e instanceof StoreError)) throw e;
  switch (e.code) {
    case 'NOT_FOUND':
      return no(`${what}: no such mailbox or message`, 'NONEXISTENT');
    case 'EXISTS':
      return no(`${what}: mailbox already exists`, 'ALREADYEXISTS');
    case 'NOT_EMPTY':
      return no(`${what}: mailbox has children`, 'INUSE');
    case 'INVALID':
      return no(`${what}: ${e.message}`, 'CANNOT');
    case 'QUOTA_EXCEEDED':
      return no(`${what}: over quota`, 'OVERQUOTA');
    case 'MODIFIED':
      return no(`${what}: modified`, null);
    default:
      s.log.warn({ event: 'store-unavailable', command: what, errCode: e.code }, 'store unavailable');
      return no(`${what}: temporarily unavailable, try again`, 'UNAVAILABLE');
  }
}

export function requireView(s: Session): MailboxView {
  if (s.view === null) throw new Error('imap: selected-state command without a view');
  return s.view;
}

/**
 * The UIDs a set names in the view, ascending. Message numbers beyond EXISTS are a client error
 * (RFC 9051 §9 seq-number: BAD); UIDs that do not exist are simply skipped (UID ranges beyond UIDNEXT are fine).
 */
export function resolveSet(v: MailboxView, set: SequenceSet, uid: boolean): { uids: Uid[] } | { error: Completion } {
  if (set.kind === 'saved') {
    const keep = new Set(v.saved);
    return { uids: v.uids.filter((u) => keep.has(u)) };
  }
  if (uid) {
    const star = v.uids.length > 0 ? v.uids[v.uids.length - 1]! : 0;
    // RFC 9051 §6.4.9: "*" in a UID range means the largest UID in use; n:* always includes it.
    return { uids: selectSorted(v.uids, normalizeRanges(set, star)) as Uid[] };
  }
  if (v.uids.length === 0) {
    if (set.ranges.every(([a, b]) => a === '*' || b === '*')) return { uids: [] };
    return { error: bad('No messages in the mailbox') };
  }
  const ranges = normalizeRanges(set, v.uids.length);
  if (ranges.some(([, hi]) => hi > v.uids.length)) return { error: bad('Message sequence number out of range') };
  const out: Uid[] = [];
  for (const [lo, hi] of ranges) for (let i = lo; i <= hi; i++) out.push(v.uids[i - 1]!);
  return { uids: out };
}

export async function folderNamed(s: Session, name: string): Promise<FolderRecord | undefined> {
  return s.account ? s.store.queries.folderByName(s.account.id, name) : undefined;
}

/** A mailbox name as the session writes it: UTF-8 for IMAP4rev2/UTF8=ACCEPT, modified UTF-7 otherwise. */
export function wireName(s: Session, name: string): string {
  return s.encodeOptions.utf8 ? name : encodeMutf7(name);
}

/** Calls a hook without letting it break the session. */
export function safeHook(s: Session, name: string, fn: () => void): void {
  try {
    fn();
  } catch (e) {
    s.log.error({ event: 'hook-failed', hook: name, err: e instanceof Error ? e.message : String(e) }, 'hook threw');
  }
}
