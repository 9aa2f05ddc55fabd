// RENAME (RFC 9051 §6.3.6): a folder with its inferior names; INBOX's messages move to the new name and
// INBOX stays, empty (the store does both in one command).

import { twoMailboxes } from '../proto/commands.ts';
import { type CommandSpec, no, ok } from './spec.ts';
import { folderNamed, storeFailure } from './util.ts';

const authed = ['authenticated', 'selected'] as const;

export const rename: CommandSpec<{ from: string; to: string }> = {
  rfc: 'RFC 9051 §6.3.6',
  states: authed,
  parse: twoMailboxes,
  async handle(s, a) {
    const to = a.to.endsWith('/') ? a.to.slice(0, -1) : a.to;
    if (!(await folderNamed(s, a.from))) return no('No such mailbox', 'NONEXISTENT');
    if (to === 'INBOX' || (await folderNamed(s, to))) return no('Target mailbox exists', 'ALREADYEXISTS');
    try {
      await s.store.execute({ type: 'renameFolder', accountId: s.account!.id, from: a.from, to });
    } catch (e) {
      return storeFailure(s, e, 'RENAME');
    }
    return ok('RENAME completed');
  },
};
