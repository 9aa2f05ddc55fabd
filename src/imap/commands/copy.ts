// COPY, MOVE and their UID forms (RFC 9051 §6.4.7-§6.4.8, RFC 6851, RFC 4315 COPYUID): through the store
// in bounded chunks; MOVE tells the expunges; the \Junk hook (spam learning) runs after success.

import { type CopyResult, type Uid, storeLimits } from '../../store/index.ts';
import { copy as parseCopy } from '../proto/commands.ts';
import { formatOrdered } from '../proto/sequence.ts';
import type { SequenceSet } from '../proto/sequence.ts';
import { loadRecords } from './message-data.ts';
import { type CommandSpec, type Completion, type Session, no, ok } from './spec.ts';
import { folderNamed, requireView, resolveSet, safeHook, storeFailure } from './util.ts';

async function run(s: Session, a: { set: SequenceSet; mailbox: string }, uid: boolean, move: boolean): Promise<Completion> {
  const v = requireView(s);
  const word = move ? 'MOVE' : 'COPY';
  if (move && v.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
  const resolved = resolveSet(v, a.set, uid);
  if ('error' in resolved) return resolved.error;
  const dest = await folderNamed(s, a.mailbox);
  if (!dest) return no('No such mailbox', 'TRYCREATE');
  const junk = v.specialUse === '\\Junk' || dest.specialUse === '\\Junk';
  const blobIds = junk && s.hooks.onMessagesMoved ? (await loadRecords(s, v, resolved.uids)).map((m) => m.record.blobId) : [];
  const src: Uid[] = [];
  const dst: Uid[] = [];
  let uidValidity = dest.uidValidity as number;
  for (let i = 0; i < resolved.uids.length; i += storeLimits.messagesPerCommandMax) {
    const uids = resolved.uids.slice(i, i + storeLimits.messagesPerCommandMax);
    let res: CopyResult;
    try {
      res = await s.store.execute<CopyResult>({ type: 'copy', accountId: v.accountId, from: v.folderId, to: dest.id, uids, move });
    } catch (e) {
      return storeFailure(s, e, word);
    }
    uidValidity = res.uidValidity;
    src.push(...res.sourceUids);
    dst.push(...res.destUids);
  }
  const code = src.length > 0 ? `COPYUID ${uidValidity} ${formatOrdered(src)} ${formatOrdered(dst)}` : null;
  if (move) {
    // RFC 6851 §4.3: COPYUID goes in an untagged OK before the expunges.
    if (code) await s.send(`* OK [${code}] Moved\r\n`);
    const lines = v.expunged(src, s.viewOptions);
    if (lines.length > 0) await s.send(lines.join(''));
  }
  if (junk && blobIds.length > 0 && src.length > 0) {
    safeHook(s, 'onMessagesMoved', () => s.hooks.onMessagesMoved?.({ accountId: v.accountId, from: v.specialUse, to: dest.specialUse, blobIds }));
  }
  return ok(`${word} completed`, move ? null : code);
}

export const copy: CommandSpec<{ set: SequenceSet; mailbox: string }> = {
  rfc: 'RFC 9051 §6.4.7, RFC 4315',
  states: ['selected'],
  uidForm: true,
  parse: parseCopy,
  handle: (s, a, call) => run(s, a, call.uid, false),
};

export const move: CommandSpec<{ set: SequenceSet; mailbox: string }> = {
  rfc: 'RFC 9051 §6.4.8, RFC 6851',
  states: ['selected'],
  uidForm: true,
  parse: parseCopy,
  handle: (s, a, call) => run(s, a, call.uid, true),
};
