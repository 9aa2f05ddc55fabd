// SEARCH and UID SEARCH (RFC 9051 §6.4.4, ESEARCH RFC 4731, SEARCHRES RFC 5182, CONDSTORE MODSEQ): the
// classic `* SEARCH` reply for IMAP4rev1 clients, ESEARCH when asked or under IMAP4rev2. No EXPUNGE meanwhile.

import { search as parseSearch } from '../proto/commands.ts';
import { type SearchProgram, usesModSeq } from '../proto/search.ts';
import { formatSequence } from '../proto/sequence.ts';
import { evaluate } from './search-eval.ts';
import { type CommandSpec, type Completion, type Session, no, ok } from './spec.ts';
import { requireView } from './util.ts';

export function charsetOk(charset: string | null): boolean {
  return charset === null || charset === 'UTF-8' || charset === 'US-ASCII';
}

async function run(s: Session, p: SearchProgram, tag: string, uid: boolean): Promise<Completion> {
  const v = requireView(s);
  if (!charsetOk(p.charset)) return no('Unsupported charset', 'BADCHARSET (UTF-8 US-ASCII)');
  const modseq = usesModSeq(p.key);
  if (modseq) s.enableCondstore();
  const found = await evaluate(s, v, p.key);
  const ids = found.map((m) => (uid ? m.uid : v.seqOf(m.uid)));
  const maxModSeq = found.reduce((mx, m) => (m.record.modSeq > mx ? m.record.modSeq : mx), 0n);
  const returns = p.returns ?? (s.enabled.has('IMAP4REV2') ? ['ALL'] : null);
  if (returns === null) {
    const tail = modseq && ids.length > 0 ? ` (MODSEQ ${maxModSeq})` : '';
    await s.send(`* SEARCH${ids.map((n) => ` ${n}`).join('')}${tail}\r\n`);
    return ok('SEARCH completed');
  }
  const opts = returns.length === 0 ? ['ALL'] : returns;
  if (opts.includes('SAVE')) {
    // RFC 5182 §2.4: with MIN and/or MAX (and neither ALL nor COUNT), only those messages are saved.
    const uids = found.map((m) => m.uid);
    const minMaxOnly = (opts.includes('MIN') || opts.includes('MAX')) && !opts.includes('ALL') && !opts.includes('COUNT');
    v.saved = !minMaxOnly || uids.length === 0 ? uids : [...new Set([...(opts.includes('MIN') ? [uids[0]!] : []), ...(opts.includes('MAX') ? [uids[uids.length - 1]!] : [])])];
  }
  if (opts.length === 1 && opts[0] === 'SAVE') return ok('SEARCH completed, result saved');
  const parts: string[] = [`(TAG "${tag.replace(/[\\"]/g, '')}")`];
  if (uid) parts.push('UID');
  if (ids.length > 0) {
    if (opts.includes('MIN')) parts.push(`MIN ${ids[0]}`);
    if (opts.includes('MAX')) parts.push(`MAX ${ids[ids.length - 1]}`);
    if (opts.includes('ALL')) parts.push(`ALL ${formatSequence(ids)}`);
  }
  if (opts.includes('COUNT')) parts.push(`COUNT ${ids.length}`);
  if (modseq && ids.length > 0) parts.push(`MODSEQ ${maxModSeq}`);
  await s.send(`* ESEARCH ${parts.join(' ')}\r\n`);
  return ok('SEARCH completed');
}

export const search: CommandSpec<SearchProgram> = {
  rfc: 'RFC 9051 §6.4.4, RFC 4731, RFC 5182',
  states: ['selected'],
  uidForm: true,
  holdsExpunge: true,
  parse: (r) => parseSearch(r),
  handle: (s, p, call) => run(s, p, call.tag, call.uid),
};
