// SELECT and EXAMINE (RFC 9051 §6.3.2-§6.3.3) with CONDSTORE and QRESYNC parameters (RFC 7162 §3.1.8, §3.2.5):
// builds the session's view of the folder and tells its state; QRESYNC adds VANISHED (EARLIER) and changed flags.

import { MailboxView } from '../mailbox-view.ts';
import { type QresyncParams, type SelectArgs, select as parseSelect } from '../proto/commands.ts';
import { astr } from '../proto/encode.ts';
import { normalizeRanges } from '../proto/sequence.ts';
import { mailboxId } from './status.ts';
import { type CommandSpec, type Session, bad, no, ok } from './spec.ts';
import { folderNamed, wireName } from './util.ts';

const systemFlags = '\\Answered \\Flagged \\Deleted \\Seen \\Draft';

async function qresync(s: Session, v: MailboxView, q: QresyncParams): Promise<void> {
  if (q.uidValidity !== v.uidValidity) return;
  const lines: string[] = [];
  const known = q.knownUids && q.knownUids.kind === 'ranges' ? normalizeRanges(q.knownUids, v.lastUid) : [[1, v.lastUid] as [number, number]];
  const gone = v.missingIn(known);
  if (gone !== '') lines.push(`* VANISHED (EARLIER) ${gone}\r\n`);
  for (const uid of v.uids) if ((v.modSeqs.get(uid) ?? 0n) > q.modSeq) lines.push(v.fetchFlagsLine(uid, s.viewOptions));
  if (lines.length > 0) await s.send(lines.join(''));
}

function selectCommand(readOnly: boolean): CommandSpec<SelectArgs> {
  const word = readOnly ? 'EXAMINE' : 'SELECT';
  return {
    rfc: readOnly ? 'RFC 9051 §6.3.3' : 'RFC 9051 §6.3.2',
    states: ['authenticated', 'selected'],
    parse: parseSelect,
    async handle(s, a) {
      if (a.qresync && !s.enabled.has('QRESYNC')) return bad('QRESYNC must be enabled first');
      if (s.view) {
        s.setView(null);
        // RFC 7162 §3.2.11 / RFC 9051 §6.3.2: the previous mailbox is closed before the new one is told.
        await s.send('* OK [CLOSED] Previous mailbox closed\r\n');
      }
      const f = await folderNamed(s, a.mailbox);
      if (!f) return no('No such mailbox', 'NONEXISTENT');
      if (a.condstore || a.qresync) s.enableCondstore();
      const v = new MailboxView(f, s.account!.id, readOnly);
      s.setView(v);
      await v.load(s.store.queries);
      const rev2 = s.enabled.has('IMAP4REV2');
      const unseen = v.uids.findIndex((u) => !(v.flags.get(u) ?? []).includes('\\Seen'));
      const lines = [
        `* ${v.exists} EXISTS\r\n`,
        ...(rev2 ? [] : ['* 0 RECENT\r\n']),
        `* FLAGS (${systemFlags})\r\n`,
        `* OK [PERMANENTFLAGS (${readOnly ? '' : `${systemFlags} \\*`})] Flags permitted\r\n`,
        ...(unseen >= 0 && !rev2 ? [`* OK [UNSEEN ${unseen + 1}] First unseen\r\n`] : []),
        `* OK [UIDVALIDITY ${v.uidValidity}] UIDs valid\r\n`,
        `* OK [UIDNEXT ${Math.max(f.uidNext, v.lastUid + 1)}] Predicted next UID\r\n`,
        `* OK [HIGHESTMODSEQ ${v.highestModSeq}] Highest\r\n`,
        `* OK [MAILBOXID (${mailboxId(f)})] Ok\r\n`,
        ...(rev2 ? [`* LIST () "/" ${astr(wireName(s, f.name), s.encodeOptions).join('')}\r\n`] : []),
      ];
      await s.send(lines.join(''));
      if (a.qresync) await qresync(s, v, a.qresync);
      return ok(`${word} completed`, readOnly ? 'READ-ONLY' : 'READ-WRITE');
    },
  };
}

export const select = selectCommand(false);
export const examine = selectCommand(true);
