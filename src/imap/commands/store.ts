// STORE and UID STORE (RFC 9051 §6.4.6, RFC 7162 §3.1.3 UNCHANGEDSINCE and MODIFIED): flag changes through
// the store in bounded chunks; the reply tells the new flags unless .SILENT. Never EXPUNGE meanwhile.

import { type SetFlagsResult, type Uid, storeLimits } from '../../store/index.ts';
import { type StoreArgs, store as parseStore } from '../proto/commands.ts';
import { formatSequence } from '../proto/sequence.ts';
import { type CommandSpec, type Completion, type Session, bad, no, ok } from './spec.ts';
import { requireView, resolveSet, storeFailure } from './util.ts';

async function run(s: Session, a: StoreArgs, uid: boolean): Promise<Completion> {
  const v = requireView(s);
  if (v.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
  const resolved = resolveSet(v, a.set, uid);
  if ('error' in resolved) return resolved.error;
  if (a.flags.some((f) => f === '\\*' || f.toLowerCase() === '\\recent')) return bad('\\* and \\Recent cannot be stored');
  if (a.unchangedSince !== null) s.enableCondstore();
  const modified: Uid[] = [];
  const touched = new Set<Uid>();
  for (let i = 0; i < resolved.uids.length; i += storeLimits.messagesPerCommandMax) {
    const uids = resolved.uids.slice(i, i + storeLimits.messagesPerCommandMax);
    let res: SetFlagsResult;
    try {
      res = await s.store.execute<SetFlagsResult>({
        type: 'setFlags', accountId: v.accountId, folderId: v.folderId, uids, op: a.op, flags: [...a.flags], unchangedSince: a.unchangedSince,
      });
    } catch (e) {
      return storeFailure(s, e, 'STORE');
    }
    for (const c of res.changed) {
      v.noteFlags(c.uid, c.flags, c.modSeq);
      touched.add(c.uid);
    }
    modified.push(...res.modified);
  }
  const skip = new Set(modified);
  const condstore = s.viewOptions.condstore;
  const lines: string[] = [];
  for (const u of resolved.uids) {
    if (skip.has(u) || v.seqOf(u) === 0) continue;
    // .SILENT still reports the new MODSEQ of changed messages under CONDSTORE (RFC 7162 §3.1.3).
    if (a.silent && !(condstore && touched.has(u))) continue;
    const parts = [...(uid ? [`UID ${u}`] : []), ...(a.silent ? [] : [`FLAGS (${(v.flags.get(u) ?? []).join(' ')})`]), ...(condstore ? [`MODSEQ (${v.modSeqs.get(u) ?? 0n})`] : [])];
    lines.push(`* ${v.seqOf(u)} FETCH (${parts.join(' ')})\r\n`);
  }
  if (lines.length > 0) await s.send(lines.join(''));
  if (modified.length > 0) {
    const ids = uid ? modified : modified.map((u) => v.seqOf(u)).filter((n) => n > 0);
    return ok('Some messages were modified meanwhile', `MODIFIED ${formatSequence(ids)}`);
  }
  return ok('STORE completed');
}

export const store: CommandSpec<StoreArgs> = {
  rfc: 'RFC 9051 §6.4.6, RFC 7162 §3.1.3',
  states: ['selected'],
  uidForm: true,
  holdsExpunge: true,
  parse: (r) => parseStore(r),
  handle: (s, a, call) => run(s, a, call.uid),
};
