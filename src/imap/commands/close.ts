// CLOSE (RFC 9051 §6.4.1): leaves the selected state, removing \Deleted messages silently if read-write.
// No EXPUNGE responses: the mailbox is no longer selected.

import { StoreError } from '../../store/index.ts';
import { none } from '../proto/commands.ts';
import { type CommandSpec, ok } from './spec.ts';
import { requireView, storeFailure } from './util.ts';

export const close: CommandSpec<null> = {
  rfc: 'RFC 9051 §6.4.1',
  states: ['selected'],
  parse: none,
  async handle(s) {
    const v = requireView(s);
    s.setView(null);
    // Removes \Deleted messages silently: no EXPUNGE responses (the mailbox is no longer selected).
    if (!v.readOnly && s.account) {
      try {
        await s.store.execute({ type: 'expunge', accountId: s.account.id, folderId: v.folderId, uids: null });
      } catch (e) {
        if (!(e instanceof StoreError) || e.code !== 'NOT_FOUND') return storeFailure(s, e, 'CLOSE');
      }
    }
    return ok('CLOSE completed');
  },
};
