// SEARCH matching (RFC 9051 §6.4.4): charsets, transfer encodings, RFC 2047 headers, case folding,
// checked against Dovecot 2.3's answers for the same queries over fixtures/search.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { bodyMatches, headerMatches, summarize, textMatches, unicodeCasemap } from '../../src/mime/index.ts';

const dir = join(import.meta.dirname, 'fixtures', 'search');
const rec = JSON.parse(readFileSync(join(dir, 'search.dovecot.json'), 'utf8')) as
  { emls: string[]; results: { query: [string, string | null, string]; matches: number[] }[] };
const messages = rec.emls.map((f) => {
  const bytes = readFileSync(join(dir, f));
  return { bytes, summary: summarize(bytes) };
});

/** The SEARCH key as the IMAP server maps it onto the library. */
function matches(key: string, field: string | null, needle: string, m: (typeof messages)[number]): boolean {
  switch (key) {
    case 'BODY': return bodyMatches(m.bytes, m.summary, needle);
    case 'TEXT': return textMatches(m.bytes, m.summary, needle);
    case 'HEADER': return headerMatches(m.bytes, m.summary, field!, needle);
    default: return headerMatches(m.bytes, m.summary, key, needle); // FROM, TO, CC, SUBJECT...
  }
}

for (const { query, matches: expected } of rec.results) {
  const [key, field, needle] = query;
  test(`SEARCH ${key}${field === null ? '' : ` ${field}`} "${needle}" matches what Dovecot matches`, () => {
    const ours = messages.flatMap((m, i) => (matches(key, field, needle, m) ? [i + 1] : []));
    assert.deepEqual(ours, expected);
  });
}

test('unicodeCasemap folds case and compatibility forms but keeps accents', () => {
  assert.equal(unicodeCasemap('ΣΊΣΥΦΟΣ'), unicodeCasemap('σίσυφος'));
  assert.equal(unicodeCasemap('Ǆ'), unicodeCasemap('ǆ'));
  assert.equal(unicodeCasemap('ﬁle'), 'file');
  assert.notEqual(unicodeCasemap('café'), unicodeCasemap('cafe'));
  assert.equal(unicodeCasemap('CAFÉ'), unicodeCasemap('cafe\u0301'));
});

test('header needle "" means the field exists; several occurrences are all searched', () => {
  const m = Buffer.from('Received: a\r\nReceived: from mx.example\r\nX-Empty:\r\n\r\nbody');
  const s = summarize(m);
  assert.ok(headerMatches(m, s, 'received', 'mx.example'));
  assert.ok(headerMatches(m, s, 'X-EMPTY', ''));
  assert.ok(!headerMatches(m, s, 'subject', ''));
  assert.ok(!headerMatches(m, s, 'received', 'body'));
});

test('an unknown charset and an unknown transfer encoding are searched as they are', () => {
  const m = Buffer.from('Content-Type: text/plain; charset=x-unknown\r\nContent-Transfer-Encoding: x-weird\r\n\r\nfindme');
  assert.ok(bodyMatches(m, summarize(m), 'FINDME'));
});
