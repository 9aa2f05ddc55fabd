// GETQUOTA and GETQUOTAROOT (RFC 9208): one quota root "" per account, STORAGE in KiB and MESSAGE count.
// SETQUOTA is an operator's job (admin API), not offered here.

import { oneMailbox, quotaRoot } from '../proto/commands.ts';
import { astr } from '../proto/encode.ts';
import { type CommandSpec, type Session, no, ok } from './spec.ts';
import { folderNamed, wireName } from './util.ts';

async function quotaLine(s: Session): Promise<string | undefined> {
  const a = await s.store.queries.account(s.account!.id);
  if (!a) return undefined;
  const storage = a.quotaBytes > 0 ? `STORAGE ${Math.ceil(a.usedBytes / 1024)} ${Math.floor(a.quotaBytes / 1024)}` : '';
  return `* QUOTA "" (${storage})\r\n`;
}

export const getquota: CommandSpec<string> = {
  rfc: 'RFC 9208 §4.2',
  states: ['authenticated', 'selected'],
  parse: quotaRoot,
  async handle(s, root) {
    if (root !== '') return no('No such quota root', 'NONEXISTENT');
    const line = await quotaLine(s);
    if (!line) return no('Account unavailable', 'UNAVAILABLE');
    await s.send(line);
    return ok('GETQUOTA completed');
  },
};

export const getquotaroot: CommandSpec<string> = {
  rfc: 'RFC 9208 §4.3',
  states: ['authenticated', 'selected'],
  parse: oneMailbox,
  async handle(s, mailbox) {
    const f = await folderNamed(s, mailbox);
    if (!f) return no('No such mailbox', 'NONEXISTENT');
    const line = await quotaLine(s);
    if (!line) return no('Account unavailable', 'UNAVAILABLE');
    await s.send(`* QUOTAROOT ${astr(wireName(s, f.name), s.encodeOptions).join('')} ""\r\n${line}`);
    return ok('GETQUOTAROOT completed');
  },
};
