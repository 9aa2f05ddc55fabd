// summarize(), extractSection(), decodeBinarySection() and the summary codec on RFC examples and
// malformed input: offsets, part numbers (RFC 9051 §6.4.5), limits with their defined outcomes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeBinarySection, decodeSummary, encodeSummary, extractSection, isMimeError, mimeLimits, summarize,
  type BodyPart, type SectionSpec,
} from '../../src/mime/index.ts';

const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, '\r\n'), 'utf8');
const section = (m: Buffer, spec: SectionSpec) => Buffer.from(extractSection(m, summarize(m), spec)).toString('utf8');
const binary = (m: Buffer, part: number[]) => Buffer.from(decodeBinarySection(m, summarize(m), part));

function tree(p: BodyPart): string {
  const kids = p.children.map(tree).join(',');
  return `${p.part}:${p.type}/${p.subtype}${kids === '' ? '' : `(${kids})`}`;
}

/** Reference: RFC 9051 §6.4.5, the example of part numbering (a multipart with nested parts). */
const rfcExample = crlf(`Subject: numbering
Content-Type: multipart/mixed; boundary=A

--A
Content-Type: text/plain

part 1
--A
Content-Type: application/octet-stream

part 2
--A
Content-Type: message/rfc822

Subject: part 3

--B
Content-Type: multipart/mixed; boundary=B

--B
Content-Type: text/plain

part 3.1
--B
Content-Type: application/octet-stream

part 3.2
--B--
--A
Content-Type: multipart/mixed; boundary=C

--C
Content-Type: image/gif

part 4.1
--C
Content-Type: message/rfc822

Subject: part 4.2
Content-Type: multipart/mixed; boundary=D

--D
Content-Type: text/plain

part 4.2.1
--D
Content-Type: multipart/alternative; boundary=E

--E
Content-Type: text/plain

part 4.2.2.1
--E
Content-Type: text/richtext

part 4.2.2.2
--E--
--D--
--C--
--A--
`);

test('part numbers follow RFC 9051 §6.4.5 (message/rfc822 bodies numbered inside their part)', () => {
  const s = summarize(rfcExample);
  // Part 3's inner message has the Content-Type after a blank line, so its body is text/plain (3.1).
  assert.equal(tree(s.body), ':multipart/mixed(1:text/plain,2:application/octet-stream,'
    + '3:message/rfc822(3.1:text/plain),4:multipart/mixed(4.1:image/gif,'
    + '4.2:message/rfc822(4.2:multipart/mixed(4.2.1:text/plain,4.2.2:multipart/alternative(4.2.2.1:text/plain,4.2.2.2:text/richtext)))))');
  assert.equal(section(rfcExample, { part: [4, 2, 2, 2], kind: '' }), 'part 4.2.2.2');
  assert.equal(section(rfcExample, { part: [4, 2, 1], kind: 'MIME' }), 'Content-Type: text/plain\r\n\r\n');
  assert.equal(section(rfcExample, { part: [4, 2], kind: 'HEADER' }),
    'Subject: part 4.2\r\nContent-Type: multipart/mixed; boundary=D\r\n\r\n');
  assert.equal(section(rfcExample, { part: [4, 2], kind: 'HEADER.FIELDS', fields: ['subject'] }), 'Subject: part 4.2\r\n\r\n');
  assert.match(section(rfcExample, { part: [4, 2], kind: 'TEXT' }), /^--D\r\n[\s\S]*--D--\r\n$/);
  assert.equal(section(rfcExample, { part: [3], kind: 'HEADER' }), 'Subject: part 3\r\n\r\n');
  assert.equal(section(rfcExample, { part: [3, 1], kind: '' }).split('\r\n')[0], '--B');
  assert.equal(section(rfcExample, { part: [1, 1], kind: '' }), 'part 1', 'a leaf is its own part 1 (Dovecot)');
  assert.equal(section(rfcExample, { part: [5], kind: '' }), '', 'a missing part is empty');
  assert.equal(section(rfcExample, { part: [1, 2], kind: '' }), '');
  assert.equal(section(rfcExample, { part: [], kind: 'MIME' }), '');
});

test('a non-multipart message is part 1; its HEADER, TEXT and 1.MIME', () => {
  const m = crlf('Subject: x\nContent-Type: text/plain; charset=utf-8\n\nhello\nworld\n');
  const s = summarize(m);
  assert.equal(s.body.part, '1');
  assert.deepEqual([s.body.size, s.body.lines], [14, 2]);
  assert.deepEqual(s.body.params, [['charset', 'utf-8']]);
  assert.equal(section(m, { part: [1], kind: '' }), 'hello\r\nworld\r\n');
  assert.equal(section(m, { part: [], kind: 'TEXT' }), 'hello\r\nworld\r\n');
  assert.equal(section(m, { part: [], kind: 'HEADER' }), 'Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n');
  assert.equal(section(m, { part: [1], kind: 'MIME' }), section(m, { part: [], kind: 'HEADER' }));
});

test('HEADER.FIELDS keeps folded lines byte-exact and ends with the blank line; .NOT is the complement', () => {
  const m = crlf('Subject: one\n  two\nX-A: 1\nsubject: again\nTo: a@b\n\nbody');
  assert.equal(section(m, { part: [], kind: 'HEADER.FIELDS', fields: ['SUBJECT'] }), 'Subject: one\r\n  two\r\nsubject: again\r\n\r\n');
  assert.equal(section(m, { part: [], kind: 'HEADER.FIELDS.NOT', fields: ['subject', 'x-a'] }), 'To: a@b\r\n\r\n');
  assert.equal(section(m, { part: [], kind: 'HEADER.FIELDS', fields: ['x-none'] }), '\r\n');
});

test('preamble, epilogue and boundary-like lines do not become parts', () => {
  const m = crlf(`Content-Type: multipart/mixed; boundary="b"

preamble
--bb is a boundary by prefix in Dovecot, so not here: see below
--b
Content-Type: text/plain

 --b indented is not a boundary
-b neither
--b
Content-Type: text/plain

second
--b--
epilogue
--b
after the close delimiter: still epilogue
`);
  const s = summarize(m);
  assert.equal(s.body.children.length, 3);
  assert.equal(section(m, { part: [2], kind: '' }), ' --b indented is not a boundary\r\n-b neither');
  assert.equal(section(m, { part: [3], kind: '' }), 'second');
});

test('missing final boundary and truncated part: best-effort tree to the end', () => {
  const m = crlf('Content-Type: multipart/mixed; boundary=x\n\n--x\n\none\n--x\nContent-Type: text/html\n\n<p>cut');
  const s = summarize(m);
  assert.equal(tree(s.body), ':multipart/mixed(1:text/plain,2:text/html)');
  assert.equal(section(m, { part: [2], kind: '' }), '<p>cut');
  assert.equal(s.body.children[1]!.end, m.length);
});

test('no body, no header, empty message', () => {
  const noBody = Buffer.from('Subject: only\r\nFrom: a@b');
  let s = summarize(noBody);
  assert.equal(s.envelope.subject, 'only');
  assert.deepEqual([s.body.bodyStart, s.body.size, s.body.lines], [noBody.length, 0, 0]);
  const noHeader = crlf('\nbody\n');
  s = summarize(noHeader);
  assert.deepEqual([s.body.bodyStart, s.body.size, s.body.lines, s.envelope.subject], [2, 6, 1, null]);
  s = summarize(new Uint8Array(0));
  assert.deepEqual([s.size, s.body.type, s.body.size], [0, 'text', 0]);
});

test('bare LF line ends are understood', () => {
  const m = Buffer.from('Subject: lf\nContent-Type: multipart/alternative; boundary=z\n\n--z\n\na\nb\n--z\nContent-Type: text/html\n\n<b>\n--z--\n');
  const s = summarize(m);
  assert.equal(tree(s.body), ':multipart/alternative(1:text/plain,2:text/html)');
  assert.equal(section(m, { part: [1], kind: '' }), 'a\nb');
  assert.equal(s.body.children[0]!.lines, 1);
  assert.equal(s.envelope.subject, 'lf');
});

test('8-bit and encoded-word headers stay raw in the envelope; decoded for SORT', () => {
  const m = crlf('Subject: =?utf-8?q?caf=C3=A9?= Über\nFrom: =?iso-8859-1?q?Andr=E9?= <andre@example.com>\nTo: Zoë <z@example.com>\n\nx');
  const s = summarize(m);
  assert.equal(s.envelope.subject, '=?utf-8?q?caf=C3=A9?= Über');
  assert.equal(s.envelope.from![0]!.name, '=?iso-8859-1?q?Andr=E9?=');
  assert.equal(s.envelope.to![0]!.name, 'Zoë');
  assert.equal(s.sortSubject, 'café Über');
  assert.equal(s.displayFrom, 'André');
  assert.equal(s.firstFrom, 'andre');
});

test('addresses: groups, quoted names, comments, routes, missing host and mailbox', () => {
  const m = crlf('From: "Doe, Jane" <jane@example.com>\nTo: team: a@x.test, "B b" <b@x.test>;, empty:;, c@x.test (Comment C)\n'
    + 'Cc: nohost, <@r1,@r2:routed@x.test>\nReply-To: <r@x.test>\n\n');
  const e = summarize(m).envelope;
  assert.deepEqual(e.from, [{ name: 'Doe, Jane', adl: null, mailbox: 'jane', host: 'example.com' }]);
  assert.deepEqual(e.sender, e.from, 'sender defaults to from (RFC 9051 §7.5.2)');
  assert.deepEqual(e.replyTo, [{ name: null, adl: null, mailbox: 'r', host: 'x.test' }]);
  assert.deepEqual(e.to, [
    { name: null, adl: null, mailbox: 'team', host: null },
    { name: null, adl: null, mailbox: 'a', host: 'x.test' },
    { name: 'B b', adl: null, mailbox: 'b', host: 'x.test' },
    { name: null, adl: null, mailbox: null, host: null },
    { name: null, adl: null, mailbox: 'empty', host: null },
    { name: null, adl: null, mailbox: null, host: null },
    { name: 'Comment C', adl: null, mailbox: 'c', host: 'x.test' },
  ]);
  assert.deepEqual(e.cc, [
    { name: null, adl: null, mailbox: 'nohost', host: 'MISSING_DOMAIN' },
    { name: null, adl: '@r1,@r2', mailbox: 'routed', host: 'x.test' },
  ]);
});

test('message/rfc822 parts carry the envelope and the nested tree; lines counted', () => {
  const m = crlf('Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: message/rfc822\n\n'
    + 'From: in@example.com\nSubject: inner\nContent-Type: multipart/alternative; boundary=i\n\n--i\n\nplain\n--i--\n--o--\n');
  const s = summarize(m);
  const rfc = s.body.children[0]!;
  assert.equal(rfc.envelope?.subject, 'inner');
  assert.deepEqual(rfc.envelope?.sender, [{ name: null, adl: null, mailbox: 'in', host: 'example.com' }]);
  assert.equal(tree(rfc), '1:message/rfc822(1:multipart/alternative(1.1:text/plain))');
  assert.equal(rfc.lines, 8);
  assert.equal(section(m, { part: [1, 1], kind: '' }), 'plain');
  assert.equal(section(m, { part: [1], kind: 'HEADER.FIELDS.NOT', fields: ['content-type', 'from'] }), 'Subject: inner\r\n\r\n');
});

test('multipart/digest parts default to message/rfc822 (RFC 2046 §5.1.5)', () => {
  const m = crlf('Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\n1\n--d--\n');
  assert.equal(tree(summarize(m).body), ':multipart/digest(1:message/rfc822(1.1:text/plain))');
});

test('extension data: disposition, language, location, md5, id, description, RFC 2231 continuations', () => {
  const m = crlf('Content-Type: application/pdf; name*0="a"; name*1="b.pdf"\nContent-Disposition: attachment;\n filename="ab.pdf"\n'
    + 'Content-Language: en, de\nContent-Location: http://x/\n  ab.pdf\nContent-MD5: xyz=\nContent-ID: <id@x>\nContent-Description: a file\n'
    + 'Content-Transfer-Encoding: BASE64\n\nAAAA\n');
  const p = summarize(m).body;
  assert.deepEqual(p.params, [['name', 'ab.pdf']]);
  assert.deepEqual(p.disposition, { type: 'attachment', params: [['filename', 'ab.pdf']] });
  assert.deepEqual([p.language, p.location, p.md5, p.id, p.description, p.encoding, p.lines],
    [['en', 'de'], 'http://x/ab.pdf', 'xyz=', '<id@x>', 'a file', 'base64', null]);
});

test('BINARY: base64 with line breaks and garbage, quoted-printable soft breaks, identity, unknown CTE', () => {
  const m = crlf('Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\naGVs\nbG8g*!\nd29y bGQ=\nignored\n'
    + '--b\nContent-Transfer-Encoding: quoted-printable\n\nsoft=\nbreak =C3=A9=3d trailing   \nnext=\n--b\nContent-Transfer-Encoding: 8bit\n\nraw é\n'
    + '--b\nContent-Transfer-Encoding: x-uuencode\n\nbegin\n--b--\n');
  assert.equal(binary(m, [1]).toString(), 'hello world');
  assert.equal(binary(m, [2]).toString(), 'softbreak é= trailing\r\nnext');
  assert.equal(binary(m, [3]).toString(), 'raw é');
  assert.throws(() => binary(m, [4]), (e) => isMimeError(e, 'UNKNOWN_CTE'));
  assert.equal(binary(m, [9]).length, 0);
  assert.deepEqual(binary(m, []), m);
});

test('a nesting bomb stops at depthMax: the innermost container becomes an opaque leaf', () => {
  const depth = mimeLimits.depthMax * 3;
  let m = '';
  for (let i = 0; i < depth; i++) m += `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n`;
  m += '\r\nleaf\r\n';
  const s = summarize(Buffer.from(m));
  let d = 0;
  let p = s.body;
  while (p.children.length > 0) { p = p.children[0]!; d++; }
  assert.ok(d < mimeLimits.depthMax, `tree depth ${d}`);
  assert.equal(p.type, 'application');
  const rfcBomb = 'Content-Type: message/rfc822\r\n\r\n'.repeat(depth) + 'x';
  const r = summarize(Buffer.from(rfcBomb));
  assert.deepEqual(decodeSummary(encodeSummary(r)), r);
});

test('many boundary-like lines under a deep boundary stack stay fast', () => {
  let m = '';
  for (let i = 0; i < mimeLimits.depthMax - 2; i++) m += `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n`;
  m += '\r\n' + '--b\r\n--x\r\n--b1x\r\n'.repeat(60_000);
  const t0 = performance.now();
  const s = summarize(Buffer.from(m));
  assert.ok(performance.now() - t0 < 3_000, `${performance.now() - t0} ms`);
  assert.ok(s.body.children.length > 0);
});

test('a 10 000-part message is cut at partsMax; the rest is epilogue; the summary stays bounded', () => {
  const n = 10_000;
  const m = Buffer.from('Content-Type: multipart/mixed; boundary=p\r\n\r\n' + '--p\r\n\r\nx\r\n'.repeat(n) + '--p--\r\n');
  const t0 = performance.now();
  const s = summarize(m);
  const ms = performance.now() - t0;
  assert.ok(s.body.children.length < mimeLimits.partsMax);
  assert.ok(s.body.children.length > mimeLimits.partsMax - 5);
  assert.equal(s.body.end, m.length);
  const enc = encodeSummary(s);
  assert.ok(enc.length < mimeLimits.summaryEncodedBytesMax, `${enc.length} bytes`);
  assert.ok(ms < 2_000, `${ms} ms`);
});

test('an adversarial message (long values in every kept field, big envelopes, deep part numbers) stays bounded', () => {
  const long = (c: string) => c.repeat(mimeLimits.valueBytesMax + 100);
  const addrs = Array.from({ length: 400 }, (_, i) => `n${i} <m${i}@h${i}.example>`).join(', ');
  const envelope = ['From', 'Sender', 'Reply-To', 'To', 'Cc', 'Bcc'].map((h) => `${h}: ${addrs}`).join('\r\n')
    + `\r\nSubject: ${long('s')}\r\nDate: ${long('d')}\r\nMessage-ID: ${long('i')}\r\nIn-Reply-To: ${long('r')}\r\n`;
  const partHeader = `Content-Type: text/plain; a="${long('p')}"\r\nContent-Description: ${long('x')}\r\nContent-ID: ${long('y')}\r\n`
    + `Content-Location: ${long('z')}\r\nContent-MD5: ${long('m')}\r\nContent-Disposition: inline; f="${long('f')}"\r\n`;
  let m = envelope + 'Content-Type: multipart/mixed; boundary=o\r\n\r\n';
  for (let i = 0; i < 60; i++) m += `--o\r\nContent-Type: message/rfc822\r\n\r\n${envelope}${partHeader}\r\nbody\r\n`;
  let nested = '';
  for (let i = 0; i < 90; i++) nested += `--o\r\nContent-Type: multipart/mixed; boundary=n${i}\r\n\r\n`.replace('--o', i === 0 ? '--o' : `--n${i - 1}`);
  m += nested + '--o--\r\n';
  const t0 = performance.now();
  const s = summarize(Buffer.from(m));
  const enc = encodeSummary(s);
  assert.ok(enc.length < 192 * 1024, `${enc.length} bytes encoded`);
  console.log(`# adversarial: ${m.length} B message, ${enc.length} B summary`);
  assert.ok(performance.now() - t0 < 2_000);
  assert.deepEqual(decodeSummary(enc), s);
});

test('huge headers: fields past the limits are ignored, the blank line is still found', () => {
  const filler = 'X-Filler: ' + 'a'.repeat(100) + '\r\n';
  const m = Buffer.from('Subject: first\r\n' + filler.repeat(5_000) + 'Content-Type: text/html\r\n\r\nbody');
  const s = summarize(m);
  assert.equal(s.envelope.subject, 'first');
  assert.equal(s.body.subtype, 'plain', 'Content-Type past headerFieldsMax is not interpreted');
  assert.equal(section(m, { part: [], kind: 'TEXT' }), 'body');
  const long = Buffer.from('Subject: ' + 'y'.repeat(100_000) + '\r\n\r\n');
  assert.equal(Buffer.byteLength(summarize(long).envelope.subject!), mimeLimits.valueBytesMax - 1);
});

test('header lines without colon and 8-bit garbage do not break parsing', () => {
  const m = Buffer.concat([Buffer.from('no colon here\r\nSubject: ok\r\nX-Bin: '), Buffer.from([0xff, 0xfe, 0x00, 0x80]), Buffer.from('\r\n\r\nbody')]);
  const s = summarize(m);
  assert.equal(s.envelope.subject, 'ok');
  assert.equal(section(m, { part: [], kind: 'TEXT' }), 'body');
});

test('summarize never throws on random and mutated input', () => {
  let seed = 12345;
  const rand = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  const alphabet = Buffer.from('--b\r\n:;="<>@,()\\ \tContent-Type: multipart/mixed; boundary=b message/rfc822 base64 =?utf-8?q?x?=');
  for (let i = 0; i < 2_000; i++) {
    const base = i % 2 === 0 ? rfcExample : Buffer.alloc(rand(400));
    const m = Buffer.from(base);
    for (let k = 0; k < 1 + rand(30); k++) m[rand(Math.max(1, m.length))] = i % 3 === 0 ? rand(256) : alphabet[rand(alphabet.length)]!;
    const s = summarize(m);
    assert.deepEqual(decodeSummary(encodeSummary(s)), s);
    extractSection(m, s, { part: [1, 1], kind: 'HEADER.FIELDS', fields: ['subject'] });
  }
});

test('encodeSummary/decodeSummary round-trip; corrupt bytes give MimeError CORRUPT', () => {
  const s = summarize(rfcExample);
  const enc = encodeSummary(s);
  assert.deepEqual(decodeSummary(enc), s);
  assert.ok(enc.length < rfcExample.length * 2);
  for (const bad of [new Uint8Array([0xc1]), new Uint8Array(0), enc.subarray(0, enc.length - 3), Buffer.from([0x93, 1, 2, 3])]) {
    assert.throws(() => decodeSummary(bad), (e) => isMimeError(e, 'CORRUPT'));
  }
  const tampered = Buffer.from(enc);
  tampered[1] = 2; // version
  assert.throws(() => decodeSummary(tampered), (e) => isMimeError(e, 'CORRUPT'));
});

test('message-level sort and thread keys', () => {
  const m = crlf('Subject: Re: [list] Fwd: Hello (fwd)\nDate: Tue, 1 Jul 2003 10:52:37 +0200 (CEST)\nMessage-ID:  <a@b>\n'
    + 'References: <r1@x>\n <r2@x> junk\nIn-Reply-To: <r3@x>\nFrom: Alice <alice@example.com>\nTo: undisclosed:;, bob@example.net\n\n');
  const s = summarize(m);
  assert.equal(s.sortSubject, 'Hello');
  assert.equal(s.sentDate, Date.UTC(2003, 6, 1, 8, 52, 37));
  assert.equal(s.messageId, '<a@b>');
  assert.deepEqual(s.references, ['<r1@x>', '<r2@x>']);
  assert.deepEqual([s.firstFrom, s.displayFrom, s.firstTo, s.displayTo, s.firstCc], ['alice', 'Alice', 'bob', 'bob@example.net', '']);
  const many = Array.from({ length: 1_000 }, (_, i) => `<id${i}@x>`); // 12 KB, over valueBytesMax
  const long = summarize(crlf(`References: ${many.join('\n ')}\n\n`)).references;
  assert.equal(long.length, mimeLimits.referencesMax);
  assert.deepEqual([long[0], long[1], long.at(-1)], ['<id0@x>', `<id${1_000 - mimeLimits.referencesMax + 1}@x>`, '<id999@x>']);
  const noRefs = summarize(crlf('In-Reply-To: <p@x> <q@x>\nDate: garbage\n\n'));
  assert.deepEqual([noRefs.references, noRefs.sentDate], [['<p@x>'], null]);
});
