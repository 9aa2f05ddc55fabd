// DELETE (RFC 9051 §6.3.5): a folder and its messages. Its inferior names stay, so the name lives on only
// as their parent, which LIST shows as \NonExistent (\Noselect): what the RFC asks.

import { oneMailbox } from '../proto/commands.ts';
import { type CommandSpec, no, ok } from './spec.ts';
import { folderNamed, storeFailure } from './util.ts';

const authed = ['authenticated', 'selected'] as const;

export const del: CommandSpec<string> = {
  rfc: 'RFC 9051 §6.3.5',
  states: authed,
  parse: oneMailbox,
  async handle(s, name) {
    if (name === 'INBOX') return no('INBOX cannot be deleted', 'CANNOT');
    const f = await folderNamed(s, name);
    if (!f) return no('No such mailbox', 'NONEXISTENT');
    if (s.view?.folderId === f.id) s.setView(null);
    try {
      await s.store.execute({ type: 'deleteFolder', accountId: s.account!.id, name });
    } catch (e) {
      return storeFailure(s, e, 'DELETE');
    }
    return ok('DELETE completed');
  },
};
