// CREATE (RFC 9051 §6.3.4, RFC 8474 MAILBOXID): a folder and any missing parents, through the store.
// Names arrive decoded (UTF-8); the hierarchy delimiter is "/", a trailing one is dropped.

import { StoreError } from '../../store/index.ts';
import { oneMailbox } from '../proto/commands.ts';
import { type CommandSpec, no, ok } from './spec.ts';
import { mailboxId } from './status.ts';
import { folderNamed, storeFailure } from './util.ts';

const authed = ['authenticated', 'selected'] as const;

export const create: CommandSpec<string> = {
  rfc: 'RFC 9051 §6.3.4',
  states: authed,
  parse: oneMailbox,
  async handle(s, raw) {
    const name = raw.endsWith('/') ? raw.slice(0, -1) : raw;
    if (name.toUpperCase() === 'INBOX') return no('INBOX always exists', 'ALREADYEXISTS');
    if (await folderNamed(s, name)) return no('Mailbox already exists', 'ALREADYEXISTS');
    // RFC 9051 §6.3.4: create the superior hierarchical names needed to hold the new one.
    const levels = name.split('/');
    for (let i = 1; i <= levels.length; i++) {
      const n = levels.slice(0, i).join('/');
      try {
        await s.store.execute({ type: 'createFolder', accountId: s.account!.id, name: n, specialUse: null });
      } catch (e) {
        if (e instanceof StoreError && e.code === 'EXISTS' && i < levels.length) continue;
        return storeFailure(s, e, 'CREATE');
      }
    }
    const made = await folderNamed(s, name);
    // RFC 8474 §4.1: the tagged OK of CREATE carries the new MAILBOXID.
    return ok('CREATE completed', made ? `MAILBOXID (${mailboxId(made)})` : null);
  },
};
