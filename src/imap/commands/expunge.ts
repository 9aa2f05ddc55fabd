// EXPUNGE and UID EXPUNGE (RFC 9051 §6.4.3, RFC 4315 §2.1): remove \Deleted messages (all, or those in a
// UID set) and tell each removal as EXPUNGE, or VANISHED under QRESYNC.

import { type Uid, storeLimits } from '../../store/index.ts';
import { none, sequenceSet } from '../proto/commands.ts';
import type { SequenceSet } from '../proto/sequence.ts';
import { type CommandSpec, type Session, no, ok } from './spec.ts';
import { requireView, resolveSet, storeFailure } from './util.ts';

export const expunge: CommandSpec<SequenceSet | null> = {
  rfc: 'RFC 9051 §6.4.3, RFC 4315 §2.1',
  states: ['selected'],
  uidForm: true,
  parse: (r, _o, uid) => (uid ? sequenceSet(r) : none(r)),
  async handle(s: Session, set) {
    const v = requireView(s);
    if (v.readOnly) return no('Mailbox is read-only', 'READ-ONLY');
    let uids: Uid[] | null = null;
    if (set !== null) {
      const resolved = resolveSet(v, set, true);
      if ('error' in resolved) return resolved.error;
      uids = resolved.uids;
      if (uids.length === 0) return ok('EXPUNGE completed');
    }
    const expunged: Uid[] = [];
    // The store takes a bounded number of UIDs per command; EXPUNGE without a set is one command.
    const chunks = uids === null ? [null] : Array.from({ length: Math.ceil(uids.length / storeLimits.messagesPerCommandMax) }, (_, i) => uids.slice(i * storeLimits.messagesPerCommandMax, (i + 1) * storeLimits.messagesPerCommandMax));
    for (const chunk of chunks) {
      try {
        const res = await s.store.execute<{ expunged: Uid[] }>({ type: 'expunge', accountId: v.accountId, folderId: v.folderId, uids: chunk });
        expunged.push(...res.expunged);
      } catch (e) {
        if (expunged.length > 0) await s.send(v.expunged(expunged, s.viewOptions).join(''));
        return storeFailure(s, e, 'EXPUNGE');
      }
    }
    const lines = v.expunged(expunged, s.viewOptions);
    if (lines.length > 0) await s.send(lines.join(''));
    return ok('EXPUNGE completed');
  },
};
