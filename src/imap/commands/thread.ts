// THREAD and UID THREAD (RFC 5256 §4): REFERENCES and ORDEREDSUBJECT, computed by src/mime from the
// summaries of the matching messages; this file only formats the tree. No EXPUNGE meanwhile.

import { type ThreadInput, type ThreadNode, threadOrderedSubject, threadReferences } from '../../mime/index.ts';
import { thread as parseThread } from '../proto/commands.ts';
import type { SearchKey } from '../proto/search.ts';
import { evaluate } from './search-eval.ts';
import { charsetOk } from './search.ts';
import { type CommandSpec, type Completion, type Session, no, ok } from './spec.ts';
import { requireView } from './util.ts';

/** RFC 5256 §4 thread-list syntax: a parent and its only child share parentheses; siblings nest. */
export function formatThread(node: ThreadNode): string {
  const parts: string[] = node.id === null ? [] : [String(node.id)];
  if (node.children.length === 1) parts.push(formatThread(node.children[0]!));
  else if (node.children.length > 1) parts.push(node.children.map((c) => `(${formatThread(c)})`).join(''));
  return parts.join(' ');
}

async function run(s: Session, a: { algorithm: string; charset: string; key: SearchKey }, uid: boolean): Promise<Completion> {
  const v = requireView(s);
  if (a.algorithm !== 'REFERENCES' && a.algorithm !== 'ORDEREDSUBJECT') return no('Unsupported threading algorithm', 'CANNOT');
  if (!charsetOk(a.charset)) return no('Unsupported charset', 'BADCHARSET (UTF-8 US-ASCII)');
  const found = await evaluate(s, v, a.key);
  const inputs: ThreadInput[] = [];
  for (const m of found) {
    const sum = await m.summary();
    inputs.push({
      id: uid ? m.uid : v.seqOf(m.uid), messageId: sum.messageId, references: sum.references,
      sortSubject: sum.sortSubject, sentDate: sum.sentDate, internalDate: m.record.internalDate,
    });
  }
  const roots = a.algorithm === 'REFERENCES' ? threadReferences(inputs) : threadOrderedSubject(inputs);
  await s.send(`* THREAD ${roots.map((r) => `(${formatThread(r)})`).join('')}\r\n`);
  return ok('THREAD completed');
}

export const thread: CommandSpec<{ algorithm: string; charset: string; key: SearchKey }> = {
  rfc: 'RFC 5256 §4',
  states: ['selected'],
  uidForm: true,
  holdsExpunge: true,
  parse: (r) => parseThread(r),
  handle: (s, a, call) => run(s, a, call.uid),
};
