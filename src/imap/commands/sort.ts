// SORT and UID SORT (RFC 5256 §3, SORT=DISPLAY RFC 5957): search, then order by the summary's sort keys
// with the sequence number as the final tie-breaker. No EXPUNGE meanwhile.

import type { MessageSummary } from '../../mime/index.ts';
import { type SortArgs, type SortKey, sort as parseSort } from '../proto/commands.ts';
import type { MessageData } from './message-data.ts';
import { evaluate } from './search-eval.ts';
import { charsetOk } from './search.ts';
import { type CommandSpec, type Completion, type Session, no, ok } from './spec.ts';
import { requireView } from './util.ts';

function keyOf(k: SortKey, m: MessageData, sum: MessageSummary): string | number {
  switch (k) {
    case 'ARRIVAL':
      return m.record.internalDate;
    case 'DATE':
      return sum.sentDate ?? m.record.internalDate;
    case 'SIZE':
      return m.record.size;
    case 'SUBJECT':
      return sum.sortSubject;
    case 'FROM':
      return sum.firstFrom.toLowerCase();
    case 'TO':
      return sum.firstTo.toLowerCase();
    case 'CC':
      return sum.firstCc.toLowerCase();
    case 'DISPLAYFROM':
      return sum.displayFrom.toLowerCase();
    case 'DISPLAYTO':
      return sum.displayTo.toLowerCase();
  }
}

async function run(s: Session, a: SortArgs, uid: boolean): Promise<Completion> {
  const v = requireView(s);
  if (!charsetOk(a.charset)) return no('Unsupported charset', 'BADCHARSET (UTF-8 US-ASCII)');
  const found = await evaluate(s, v, a.key);
  const rows: { seq: number; uid: number; keys: (string | number)[] }[] = [];
  for (const m of found) {
    const sum = await m.summary();
    rows.push({ seq: v.seqOf(m.uid), uid: m.uid, keys: a.criteria.map((c) => keyOf(c.key, m, sum)) });
  }
  rows.sort((x, y) => {
    for (let i = 0; i < a.criteria.length; i++) {
      const p = x.keys[i]!;
      const q = y.keys[i]!;
      const c = p < q ? -1 : p > q ? 1 : 0;
      if (c !== 0) return a.criteria[i]!.reverse ? -c : c;
    }
    return x.seq - y.seq;
  });
  await s.send(`* SORT${rows.map((r) => ` ${uid ? r.uid : r.seq}`).join('')}\r\n`);
  return ok('SORT completed');
}

export const sort: CommandSpec<SortArgs> = {
  rfc: 'RFC 5256 §3',
  states: ['selected'],
  uidForm: true,
  holdsExpunge: true,
  parse: (r) => parseSort(r),
  handle: (s, a, call) => run(s, a, call.uid),
};
