// STATUS (RFC 9051 §6.3.11, RFC 7162 HIGHESTMODSEQ, RFC 8438 SIZE, RFC 8474 MAILBOXID, RFC 7889 APPENDLIMIT):
// a folder's counters; also used by LIST-STATUS (RFC 5819).

import type { FolderRecord } from '../../store/index.ts';
import { scanMessages } from '../mailbox-view.ts';
import { status as parseStatus } from '../proto/commands.ts';
import { astr } from '../proto/encode.ts';
import { ParseError } from '../proto/reader.ts';
import { type CommandSpec, type Session, no, ok } from './spec.ts';
import { folderNamed, wireName } from './util.ts';

const known = new Set(['MESSAGES', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'DELETED', 'SIZE', 'HIGHESTMODSEQ', 'RECENT', 'APPENDLIMIT', 'MAILBOXID']);

export function checkStatusItems(items: readonly string[]): void {
  for (const i of items) if (!known.has(i)) throw new ParseError(`unknown STATUS item ${i}`);
}

/** RFC 8474 MAILBOXID: stable across renames, new for a recreated folder. */
export function mailboxId(f: FolderRecord): string {
  return `F${f.id.toString(16)}-${f.uidValidity.toString(16)}`;
}

/** `MESSAGES 2 UIDNEXT 5 ...` for the asked items, in the asked order. */
export async function statusItems(s: Session, f: FolderRecord, items: readonly string[]): Promise<string> {
  let unseen = 0;
  let deleted = 0;
  if (items.includes('UNSEEN') || items.includes('DELETED')) {
    for await (const m of scanMessages(s.store.queries, s.account!.id, f.id, 1)) {
      if (!m.flags.includes('\\Seen')) unseen++;
      if (m.flags.includes('\\Deleted')) deleted++;
    }
  }
  const value: Record<string, string> = {
    MESSAGES: String(f.exists),
    UIDNEXT: String(f.uidNext),
    UIDVALIDITY: String(f.uidValidity),
    UNSEEN: String(unseen),
    DELETED: String(deleted),
    SIZE: String(f.bytes),
    HIGHESTMODSEQ: String(f.highestModSeq),
    RECENT: '0',
    APPENDLIMIT: String(s.config.appendLimitBytes),
    MAILBOXID: `(${mailboxId(f)})`,
  };
  return items.map((i) => `${i} ${value[i]}`).join(' ');
}

export async function statusLineFor(s: Session, f: FolderRecord, items: readonly string[]): Promise<string> {
  const name = astr(wireName(s, f.name), s.encodeOptions);
  return `* STATUS ${name.join('')} (${await statusItems(s, f, items)})\r\n`;
}

export const status: CommandSpec<{ mailbox: string; items: string[] }> = {
  rfc: 'RFC 9051 §6.3.11',
  states: ['authenticated', 'selected'],
  parse(r, o) {
    const a = parseStatus(r, o);
    checkStatusItems(a.items);
    return a;
  },
  async handle(s, a) {
    const f = await folderNamed(s, a.mailbox);
    if (!f) return no('No such mailbox', 'NONEXISTENT');
    if (a.items.includes('HIGHESTMODSEQ')) s.enableCondstore();
    await s.send(await statusLineFor(s, f, a.items));
    return ok('STATUS completed');
  },
};
