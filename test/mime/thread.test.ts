// THREAD=REFERENCES and ORDEREDSUBJECT (RFC 5256 §3) and the base subject (§2.1): rule by rule, and
// against Dovecot's answers for a 22-message mailbox (fixtures/thread, captured by capture-dovecot.ts).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  baseSubject, extractBaseSubject, summarize, threadOrderedSubject, threadReferences,
  type ThreadInput, type ThreadNode,
} from '../../src/mime/index.ts';

/** RFC 5256 §4 thread-list syntax, so results read like the RFC's examples. */
function format(roots: ThreadNode[]): string {
  const one = (n: ThreadNode): string => {
    const head = n.id === null ? '' : String(n.id);
    if (n.children.length === 0) return head;
    if (n.children.length === 1) return head === '' ? one(n.children[0]!) : `${head} ${one(n.children[0]!)}`;
    const nested = n.children.map((c) => `(${one(c)})`).join('');
    return head === '' ? nested : `${head} ${nested}`;
  };
  return roots.map((r) => `(${one(r)})`).join('');
}

let clock = 0;
function msg(id: number, messageId: string | null, references: string[], subject: string, sentDate: number | null = ++clock): ThreadInput {
  const s = extractBaseSubject(subject);
  return { id, messageId, references, sortSubject: s.base, replyOrForward: s.replyOrForward, sentDate, internalDate: 1_000_000 + id };
}

test('RFC 5256 §2.1 base subject: re/fwd leaders, blobs, (fwd) trailers, [fwd: ...] wrappers, whitespace', () => {
  const cases: [string, string, boolean][] = [
    ['Re: hello', 'hello', true],
    ['RE:   Fwd:re[2]:  hello  ', 'hello', true],
    ['[list] Re: [other] hello', 'hello', true],
    ['[list]', '[list]', false], // a blob is kept when nothing would remain
    ['[a][b] subject', 'subject', false],
    ['Hello (fwd) (FWD)  ', 'Hello', true],
    ['[Fwd: Re: [x] deep (fwd)]', 'deep', true],
    ['fw: tab\tand  spaces', 'tab and spaces', true],
    ['Re:', '', true],
    ['Reply: not a leader', 'Reply: not a leader', false],
    ['', '', false],
  ];
  for (const [input, base, reply] of cases) {
    assert.deepEqual(extractBaseSubject(input), { base, replyOrForward: reply }, input);
    assert.equal(baseSubject(input), base);
  }
});

test('base subject of a pathological 4 KB subject is linear work', () => {
  const t0 = performance.now();
  for (let i = 0; i < 50; i++) baseSubject(' '.repeat(4_000) + 'x' + '(fwd)'.repeat(800) + 'y');
  assert.ok(performance.now() - t0 < 500);
});

test('REFERENCES step 1: references chain, dummy parents, last reference is the parent', () => {
  const t = threadReferences([msg(1, '<a>', [], 'A'), msg(2, '<c>', ['<a>', '<b>'], 'Re: A'), msg(3, '<d>', ['<a>'], 'Re: A')]);
  // <b> is missing: its dummy sits between 1 and 2 and is pruned away (step 3, not at the root).
  assert.equal(format(t), '(1 (2)(3))');
});

test('REFERENCES step 1: duplicate and missing Message-IDs get unique ids; loops are not created', () => {
  const t = threadReferences([
    msg(1, '<a>', [], 'one'), msg(2, '<a>', [], 'two'), msg(3, null, ['<a>'], 'three'),
    msg(4, '<x>', ['<y>'], 'x'), msg(5, '<y>', ['<x>'], 'y'), msg(6, '<self>', ['<self>'], 'self'),
  ]);
  // 4 made the <y> dummy its parent; when 5 (<y>) arrives, linking it under 4 would close a loop.
  assert.equal(format(t), '(1 3)(2)(5 4)(6)');
});

test('REFERENCES step 1.B: a later, complete References moves a message under its real parent', () => {
  const t = threadReferences([
    msg(1, '<p>', [], 'root'), msg(2, '<q>', ['<p>'], 'Re: root'),
    msg(3, '<r>', ['<q>'], 'Re: root'), msg(4, '<s>', ['<p>', '<r>'], 'Re: root'),
  ]);
  assert.equal(format(t), '(1 2 3 4)');
});

test('REFERENCES step 3: a root dummy keeps several children; a single child is promoted', () => {
  const t = threadReferences([msg(1, '<a>', ['<gone>'], 'x1'), msg(2, '<b>', ['<gone>'], 'x2'), msg(3, '<c>', ['<lost>'], 'y')]);
  assert.equal(format(t), '((1)(2))(3)');
});

test('REFERENCES step 4-6: sent dates order siblings, internal date when there is no Date, ties by id', () => {
  const t = threadReferences([
    msg(1, '<a>', [], 'a', 50), msg(2, '<b>', ['<a>'], 'Re: a', 40), msg(3, '<c>', ['<a>'], 'Re: a', 30),
    msg(4, '<d>', [], 'd', null), msg(5, '<e>', [], 'e', 10), msg(6, '<f>', [], 'f', 10),
  ]);
  // 4 has no Date: its internal date 1_000_004 sorts it last.
  assert.equal(format(t), '(5)(6)(1 (3)(2))(4)');
});

test('REFERENCES step 5: same base subject merges; replies go under the original; else a dummy holds both', () => {
  assert.equal(format(threadReferences([msg(1, '<a>', [], 'Topic'), msg(2, '<b>', [], 'Re: topic')])), '(1 2)');
  assert.equal(format(threadReferences([msg(1, '<a>', [], 'Re: Topic'), msg(2, '<b>', [], 'Topic')])), '(2 1)');
  assert.equal(format(threadReferences([msg(1, '<a>', [], 'Topic'), msg(2, '<b>', [], 'Topic')])), '((1)(2))');
  assert.equal(format(threadReferences([msg(1, '<a>', ['<x>'], 'Re: T'), msg(2, '<b>', ['<x>'], 'Re: T'), msg(3, '<c>', ['<y>'], 'Re: T'), msg(4, '<d>', ['<y>'], 'Re: T')])),
    '((1)(2)(3)(4))', 'two root dummies merge their children');
  assert.equal(format(threadReferences([msg(1, '<a>', [], ''), msg(2, '<b>', [], '')])), '(1)(2)', 'empty subjects never merge');
});

test('ORDEREDSUBJECT: groups by base subject, first message the parent, groups by first date', () => {
  const t = threadOrderedSubject([msg(1, null, [], 'b', 5), msg(2, null, [], 'Re: A', 1), msg(3, null, [], 'a', 2), msg(4, null, [], 'B', 3), msg(5, null, [], 'c', 4)]);
  assert.equal(format(t), '(2 3)(4 1)(5)');
  assert.equal(format(threadOrderedSubject([msg(1, null, [], 'x', 1), msg(2, null, [], 'x', 2), msg(3, null, [], 'x', 3)])), '(1 (2)(3))');
});

test('threads equal Dovecot 2.3 on a 22-message mailbox (REFERENCES and ORDEREDSUBJECT)', () => {
  const dir = join(import.meta.dirname, 'fixtures', 'thread');
  const rec = JSON.parse(readFileSync(join(dir, 'thread.dovecot.json'), 'utf8')) as
    { emls: string[]; internalDates: number[]; references: string; orderedSubject: string };
  const inputs: ThreadInput[] = rec.emls.map((f, i) => {
    const s = summarize(readFileSync(join(dir, f)));
    return { id: i + 1, messageId: s.messageId, references: s.references, sortSubject: s.sortSubject,
      replyOrForward: s.replyOrForward, sentDate: s.sentDate, internalDate: rec.internalDates[i]! };
  });
  assert.equal(format(threadReferences(inputs)), rec.references);
  assert.equal(format(threadOrderedSubject(inputs)), rec.orderedSubject);
});

test('a long reference chain and 20 000 messages thread in bounded time', () => {
  const inputs: ThreadInput[] = [];
  for (let i = 1; i <= 20_000; i++) inputs.push(msg(i, `<m${i}>`, i % 100 === 1 ? [] : [`<m${i - 1}>`], `s${Math.floor(i / 100)}`, i));
  const t0 = performance.now();
  const t = threadReferences(inputs);
  assert.equal(t.length, 200);
  assert.ok(performance.now() - t0 < 5_000);
});
