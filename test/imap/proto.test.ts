// The pure protocol layer: command grammar (literals, sequence sets, search keys, fetch attributes, LIST,
// SELECT, APPEND, STORE), the response encoder, modified UTF-7, the input splitter, and a seeded fuzz:
// no input makes a parser throw anything but ParseError.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as P from '../../src/imap/proto/commands.ts';
import { astr, formatDateTime, str, toBuffer } from '../../src/imap/proto/encode.ts';
import { parseFetchItems, sectionLabel } from '../../src/imap/proto/fetch.ts';
import { InputBuffer, literalAtEnd } from '../../src/imap/proto/input.ts';
import { decodeMutf7, encodeMutf7 } from '../../src/imap/proto/mutf7.ts';
import { ParseError, Reader, parseDateTime } from '../../src/imap/proto/reader.ts';
import { parseSearchProgram } from '../../src/imap/proto/search.ts';
import { formatOrdered, formatSequence, normalizeRanges, parseSequenceSet, selectSorted } from '../../src/imap/proto/sequence.ts';

const r = (s: string | Buffer): Reader => new Reader(typeof s === 'string' ? Buffer.from(s, 'latin1') : s);
const utf8 = { utf8: true };

test('strings: atoms, quoted with escapes, literals {n} {n+} and ~{n}; NUL only in literal8', () => {
  assert.equal(r('"a \\"b\\" \\\\c"').quoted().toString(), 'a "b" \\c');
  assert.equal(r('{5}\r\nhello').literal().toString(), 'hello');
  assert.equal(r('{5+}\r\nhello').literal().toString(), 'hello');
  assert.deepEqual([...r(Buffer.from('~{2}\r\n\0\x01')).literal(true)], [0, 1]);
  assert.throws(() => r(Buffer.from('{2}\r\n\0\x01')).literal(), ParseError);
  assert.throws(() => r('{9}\r\nshort').literal(), ParseError);
  assert.throws(() => r('"open').quoted(), ParseError);
  assert.equal(r('INBOX.sub]x').astring(), 'INBOX.sub]x');
  assert.equal(r('NIL').nstring(), null);
});

test('sequence sets: ranges either order, *, $, merged; UID selection and formatting', () => {
  const s = parseSequenceSet(r('5:3,1,*:9,7'));
  assert.equal(s.kind, 'ranges');
  assert.deepEqual(normalizeRanges(s as never, 12), [[1, 1], [3, 5], [7, 7], [9, 12]]);
  assert.equal(parseSequenceSet(r('$')).kind, 'saved');
  assert.throws(() => parseSequenceSet(r('0:3')), ParseError);
  assert.throws(() => parseSequenceSet(r('1:x')), ParseError);
  assert.deepEqual(selectSorted([2, 4, 6, 8, 100], [[3, 7], [50, 1000]]), [4, 6, 100]);
  assert.equal(formatSequence([5, 1, 2, 3, 9, 10]), '1:3,5,9:10');
  assert.equal(formatOrdered([7, 8, 9, 3, 4]), '7:9,3:4');
});

test('search programs: nested OR/NOT/parentheses, dates, literals, RETURN, CHARSET, MODSEQ', () => {
  const p = parseSearchProgram(r('RETURN (MIN COUNT SAVE) CHARSET UTF-8 OR (FROM "bob" NOT SEEN) UID 1:5 $ SINCE 1-Feb-2026 HEADER X-Tag {3}\r\nabc MODSEQ "/flags/\\\\seen" all 5'), true);
  assert.deepEqual(p.returns, ['MIN', 'COUNT', 'SAVE']);
  assert.equal(p.charset, 'UTF-8');
  assert.equal(p.key.k, 'and');
  const keys = (p.key as unknown as { keys: { k: string }[] }).keys;
  assert.deepEqual(keys.map((k) => k.k), ['or', 'seq', 'date', 'header', 'modseq']);
  assert.deepEqual(keys[2], { k: 'date', sent: false, op: 'since', ms: Date.UTC(2026, 1, 1) });
  assert.deepEqual(keys[3], { k: 'header', field: 'x-tag', value: 'abc' });
  assert.deepEqual(parseSearchProgram(r('1,3:* UNSEEN'), true).key, { k: 'and', keys: [{ k: 'seq', set: { kind: 'ranges', ranges: [[1, 1], [3, '*']] } }, { k: 'flag', flag: '\\Seen', set: false }] });
  assert.throws(() => parseSearchProgram(r('FOO'), true), ParseError);
  assert.throws(() => parseSearchProgram(r('OR SEEN'), true), ParseError);
  assert.throws(() => parseSearchProgram(r(`${'('.repeat(100)}ALL${')'.repeat(100)}`), true), /too deep/);
});

test('fetch attributes: macros, sections with parts, fields and partials, BINARY, modifiers', () => {
  assert.deepEqual(parseFetchItems(r('FAST')).map((i) => (i as { name: string }).name), ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE']);
  const items = parseFetchItems(r('(UID BODY.PEEK[1.2.HEADER.FIELDS (Subject "X-A")]<10.20> BODY[] BINARY.PEEK[3]<0.5> BINARY.SIZE[3] RFC822.HEADER MODSEQ)'));
  assert.equal(items.length, 7);
  const sec = items[1] as unknown as { k: string; peek: boolean; section: { part: number[]; kind: string; fields: string[] }; partial: number[] };
  assert.deepEqual([sec.peek, sec.section.part, sec.section.kind, sec.section.fields, sec.partial], [true, [1, 2], 'HEADER.FIELDS', ['Subject', 'X-A'], [10, 20]]);
  assert.equal(sectionLabel(sec.section as never), '[1.2.HEADER.FIELDS (SUBJECT X-A)]');
  assert.throws(() => parseFetchItems(r('BODY[MIME]')), /MIME needs a part/);
  assert.throws(() => parseFetchItems(r('BODY[1.FOO]')), ParseError);
  const f = P.fetch(r(' 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)'));
  assert.deepEqual(f.modifiers, { changedSince: 12345n, vanished: true });
});

test('command arguments: LIST-EXTENDED, SELECT QRESYNC, MULTIAPPEND, STORE UNCHANGEDSINCE, LOGIN literal', () => {
  const l = P.list(r(' (SUBSCRIBED RECURSIVEMATCH) "" ("INBOX" Work/%) RETURN (CHILDREN STATUS (MESSAGES UNSEEN))'), utf8);
  assert.deepEqual([[...l.select], l.patterns, [...l.returns], l.statusItems, l.extended], [['SUBSCRIBED', 'RECURSIVEMATCH'], ['INBOX', 'Work/%'], ['CHILDREN', 'STATUS'], ['MESSAGES', 'UNSEEN'], true]);
  const s = P.select(r(' inbox (QRESYNC (67890007 20050715194045000 41,43:211,214:541))'), utf8);
  assert.equal(s.mailbox, 'INBOX');
  assert.equal(s.qresync?.uidValidity, 67890007);
  assert.equal(s.qresync?.modSeq, 20050715194045000n);
  const a = P.append(r(' Drafts (\\Seen) " 7-Feb-1994 21:52:25 -0800" {3}\r\nabc {2+}\r\nde'), utf8);
  assert.equal(a.messages.length, 2);
  assert.equal(a.messages[0]!.date, Date.UTC(1994, 1, 8, 5, 52, 25));
  assert.deepEqual(a.messages[0]!.flags, ['\\Seen']);
  const st = P.store(r(' 1:3 (UNCHANGEDSINCE 320162338) -FLAGS.SILENT (\\Deleted $Junk)'));
  assert.deepEqual([st.op, st.silent, st.flags, st.unchangedSince], ['remove', true, ['\\Deleted', '$Junk'], 320162338n]);
  assert.deepEqual(P.login(r(' {5}\r\nalice "pa ss"')), { user: 'alice', password: 'pa ss' });
  assert.equal(P.mailbox(r('"&AMk-t&AOk-"'), { utf8: false }), '\u00c9t\u00e9');
});

test('encoder: quoted when safe, literal otherwise; UTF-8 quoted only when enabled; date-time', () => {
  assert.deepEqual(str('a "b"', { utf8: false }), ['"a \\"b\\""']);
  assert.equal(toBuffer(str('line\r\nbreak', { utf8: true })).toString(), '{11}\r\nline\r\nbreak');
  assert.equal(toBuffer(str('\u00fc', { utf8: false })).toString('latin1'), '{2}\r\n\u00c3\u00bc');
  assert.deepEqual(str('\u00fc', { utf8: true }), ['"\u00fc"']);
  assert.deepEqual(astr('INBOX', { utf8: false }), ['INBOX']);
  assert.deepEqual(astr('Old Mail', { utf8: false }), ['"Old Mail"']);
  assert.deepEqual(astr('NIL', { utf8: false }), ['"NIL"']);
  assert.equal(formatDateTime(Date.UTC(2026, 0, 2, 3, 4, 5)), '"02-Jan-2026 03:04:05 +0000"');
  assert.equal(parseDateTime('17-Jul-1996 02:44:25 -0700'), Date.UTC(1996, 6, 17, 9, 44, 25));
});

test('modified UTF-7 round trips (RFC 3501 §5.1.3)', () => {
  for (const s of ['Entw\u00fcrfe', '~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e', 'A&B', 'plain']) assert.equal(decodeMutf7(encodeMutf7(s)), s);
  assert.equal(encodeMutf7('~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e'), '~peter/mail/&U,BTFw-/&ZeVnLIqe-');
  assert.equal(encodeMutf7('A&B'), 'A&-B');
});

test('input splitting: lines, literals, overlong lines reported once and skipped', () => {
  const b = new InputBuffer();
  b.push(Buffer.from('a1 NOOP\r\na2 LOGIN {3}\r\n'));
  assert.equal((b.line(100) as { bytes: Buffer }).bytes.toString(), 'a1 NOOP');
  const l = b.line(100) as { bytes: Buffer };
  assert.deepEqual(literalAtEnd(l.bytes), { size: 3, sync: true });
  assert.equal(b.bytes(3), undefined);
  b.push(Buffer.from('abc x\r\n'));
  assert.equal(b.bytes(3)!.toString(), 'abc');
  assert.equal((b.line(100) as { bytes: Buffer }).bytes.toString(), ' x');
  b.push(Buffer.from('y'.repeat(50)));
  assert.deepEqual(b.line(20), { kind: 'too-long' });
  b.push(Buffer.from('yyy\r\nnext\r\n'));
  assert.equal((b.line(20) as { bytes: Buffer }).bytes.toString(), 'next');
  assert.deepEqual(literalAtEnd(Buffer.from('x {12+}')), { size: 12, sync: false });
  assert.equal(literalAtEnd(Buffer.from('x "{12}"')), undefined);
});

test('fuzz: random and mutated arguments never throw anything but ParseError (seeded)', () => {
  let seed = 0x5eed;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const samples = ['1:* (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (A)]<0.5>)', 'OR (FROM "a" NOT SEEN) UID 1:5', ' (SUBSCRIBED) "" (a b) RETURN (STATUS (MESSAGES))', ' INBOX (\\Seen) {3}\r\nabc', ' 1:3 (UNCHANGEDSINCE 5) +FLAGS (\\Seen)'];
  const alphabet = '()[]<>{}"\\ *%$:,.+-~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n\0\u00ff';
  const parsers: ((x: Reader) => unknown)[] = [(x) => P.fetch(x), (x) => P.search(x), (x) => P.list(x, utf8), (x) => P.append(x, utf8), (x) => P.store(x), (x) => P.select(x, utf8), (x) => P.sort(x), (x) => P.status(x, utf8)];
  for (let i = 0; i < 5000; i++) {
    const base = samples[rand(samples.length)]!.split('');
    for (let k = rand(6); k >= 0; k--) base.splice(rand(base.length + 1), rand(3), alphabet[rand(alphabet.length)]!);
    const input = Buffer.from((rand(2) ? ' ' : '') + base.join(''), 'latin1');
    for (const p of parsers) {
      try {
        p(new Reader(input));
      } catch (e) {
        if (!(e instanceof ParseError)) throw new Error(`${JSON.stringify(input.toString('latin1'))}: ${String(e)}`);
      }
    }
  }
});

test('LIST patterns: * crosses the delimiter, % does not; long hostile patterns stay linear', async () => {
  const { patternMatches } = await import('../../src/imap/commands/list.ts');
  assert.ok(patternMatches('*', 'a/b/c'));
  assert.ok(patternMatches('a/%', 'a/b'));
  assert.ok(!patternMatches('a/%', 'a/b/c'));
  assert.ok(patternMatches('a/%/c', 'a/b/c'));
  assert.ok(patternMatches('%', 'Trash'));
  assert.ok(!patternMatches('%', 'a/b'));
  assert.ok(patternMatches('T*h', 'Trash'));
  const t0 = Date.now();
  assert.ok(!patternMatches(`${'*a'.repeat(500)}b`, 'a'.repeat(255)));
  assert.ok(Date.now() - t0 < 1_000);
});
