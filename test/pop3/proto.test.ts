// Pure parser and serializer tests: line splitting and limits, command lines, replies, dot-stuffing, TOP,
// SASL PLAIN. No sockets. Reference: RFC 1939 §3, RFC 2449 §4, RFC 5034 §4, RFC 4616 §2.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBase64Strict, decodePlain } from '../../src/net/sasl-plain.ts';
import { capabilities } from '../../src/pop3/commands/capa.ts';
import { commandTable, isCommandName } from '../../src/pop3/commands/index.ts';
import { pop3CommandLineBytesMax } from '../../src/pop3/limits.ts';
import { parseCommandLine, parseDecimal, parseMessageNumber, splitArgs } from '../../src/pop3/proto/command-line.ts';
import { type LineEvent, LineReader } from '../../src/pop3/proto/line-reader.ts';
import { DotStuffer, TopCutter } from '../../src/pop3/proto/message-body.ts';
import * as replies from '../../src/pop3/proto/replies.ts';
import { err, ok, serializeContinuation, serializeMultiline, serializeReply } from '../../src/pop3/proto/reply.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

function lines(reader: LineReader, max = pop3CommandLineBytesMax): (string | 'TOO-LONG')[] {
  const out: (string | 'TOO-LONG')[] = [];
  for (let ev: LineEvent | undefined; (ev = reader.next(max)) !== undefined; ) out.push(ev.kind === 'line' ? dec(ev.bytes) : 'TOO-LONG');
  return out;
}

// ---- LineReader ----

test('LineReader: CRLF and bare LF end lines; a partial line waits for more', () => {
  const r = new LineReader();
  r.push(enc('STAT\r\nLIST 1\nNO'));
  assert.deepEqual(lines(r), ['STAT', 'LIST 1']);
  r.push(enc('OP\r'));
  assert.deepEqual(lines(r), []);
  r.push(enc('\n'));
  assert.deepEqual(lines(r), ['NOOP']);
  assert.equal(r.bufferedBytes, 0);
});

test('LineReader: empty lines are lines (the command parser refuses them)', () => {
  const r = new LineReader();
  r.push(enc('\r\n\n'));
  assert.deepEqual(lines(r), ['', '']);
});

test('LineReader: RFC 2449 §4 limit counts the CRLF: 255 octets pass, 256 do not', () => {
  const r = new LineReader();
  const ok253 = 'A'.repeat(253);
  r.push(enc(`${ok253}\r\n`));
  assert.deepEqual(lines(r), [ok253]);
  r.push(enc(`${'B'.repeat(254)}\r\nNOOP\r\n`));
  assert.deepEqual(lines(r), ['TOO-LONG', 'NOOP']);
});

test('LineReader: an endless line is reported once, never buffered, and reading resumes after its LF', () => {
  const r = new LineReader();
  r.push(enc('X'.repeat(300)));
  assert.deepEqual(lines(r), ['TOO-LONG']);
  assert.equal(r.bufferedBytes, 0);
  for (let i = 0; i < 100; i++) {
    r.push(enc('Y'.repeat(1000)));
    assert.deepEqual(lines(r), []);
    assert.equal(r.bufferedBytes, 0);
  }
  r.push(enc('tail\r\nQUIT\r\n'));
  assert.deepEqual(lines(r), ['QUIT']);
});

test('LineReader: discard() forgets pipelined input (STLS injection, RFC 2595 §4)', () => {
  const r = new LineReader();
  r.push(enc('USER evil\r\nPASS x'));
  r.discard();
  assert.equal(r.bufferedBytes, 0);
  r.push(enc('CAPA\r\n'));
  assert.deepEqual(lines(r), ['CAPA']);
});

test('LineReader: a line split at every byte boundary reassembles', () => {
  const text = 'TOP 1 10\r\nUIDL\r\n';
  for (let cut = 0; cut <= text.length; cut++) {
    const r = new LineReader();
    r.push(enc(text.slice(0, cut)));
    const got = lines(r);
    r.push(enc(text.slice(cut)));
    assert.deepEqual([...got, ...lines(r)], ['TOP 1 10', 'UIDL'], `cut at ${cut}`);
  }
});

// ---- command lines ----

test('parseCommandLine: keywords are case-insensitive (RFC 1939 §3); the rest is kept verbatim', () => {
  assert.deepEqual(parseCommandLine(enc('stat')), { ok: true, line: { keyword: 'STAT', rest: '' } });
  assert.deepEqual(parseCommandLine(enc('pAsS my  secret ')), { ok: true, line: { keyword: 'PASS', rest: 'my  secret ' } });
  assert.deepEqual(parseCommandLine(enc('Top 1 2')), { ok: true, line: { keyword: 'TOP', rest: '1 2' } });
});

test('parseCommandLine: empty lines, control bytes, invalid UTF-8 and odd keywords are refused', () => {
  assert.deepEqual(parseCommandLine(enc('')), { ok: false, error: 'EMPTY' });
  assert.deepEqual(parseCommandLine(Uint8Array.from([0x55, 0x53, 0x45, 0x52, 0x20, 0x00])), { ok: false, error: 'BAD_BYTES' });
  assert.deepEqual(parseCommandLine(enc('LIST\t1')), { ok: false, error: 'BAD_BYTES' });
  assert.deepEqual(parseCommandLine(Uint8Array.from([0x55, 0x53, 0x45, 0x52, 0x20, 0xc3, 0x28])), { ok: false, error: 'BAD_BYTES' });
  assert.deepEqual(parseCommandLine(Uint8Array.from([0xff, 0xfe, 0x80])), { ok: false, error: 'BAD_BYTES' });
  assert.deepEqual(parseCommandLine(enc('PROXY TCP4 1.2.3.4 5.6.7.8 1 2')), { ok: false, error: 'BAD_KEYWORD' });
  assert.deepEqual(parseCommandLine(enc('GET / HTTP/1.1')), { ok: true, line: { keyword: 'GET', rest: '/ HTTP/1.1' } });
  assert.deepEqual(parseCommandLine(enc(' STAT')), { ok: false, error: 'BAD_KEYWORD' });
  assert.deepEqual(parseCommandLine(enc('ST4T')), { ok: false, error: 'BAD_KEYWORD' });
  // UTF-8 in arguments is fine (user names).
  assert.deepEqual(parseCommandLine(enc('USER jürgen')), { ok: true, line: { keyword: 'USER', rest: 'jürgen' } });
});

test('splitArgs and numbers: arity, message numbers >= 1, digit limit', () => {
  assert.deepEqual(splitArgs('1  2 ', 2, 2), ['1', '2']);
  assert.equal(splitArgs('1 2 3', 0, 2), undefined);
  assert.equal(splitArgs('', 1, 1), undefined);
  assert.equal(parseMessageNumber('0'), undefined);
  assert.equal(parseMessageNumber('007'), 7);
  assert.equal(parseMessageNumber('-1'), undefined);
  assert.equal(parseMessageNumber('+1'), undefined);
  assert.equal(parseMessageNumber('1e3'), undefined);
  assert.equal(parseMessageNumber('99999999999'), undefined);
  assert.equal(parseDecimal('0'), 0);
});

test('the command table: every command declares states; no APOP, no LAST', () => {
  for (const [name, spec] of Object.entries(commandTable)) {
    assert.ok(spec.states.length > 0, name);
    assert.match(spec.rfc, /^RFC \d+/, name);
  }
  assert.equal(isCommandName('APOP'), false);
  assert.equal(isCommandName('LAST'), false);
  assert.equal(isCommandName('toString'), false);
  assert.equal(isCommandName('__proto__'), false);
});

test('command parsers: syntax errors are replies, not exceptions', () => {
  assert.deepEqual(commandTable.TOP.parse('1'), { ok: false, reply: replies.syntax('TOP msg n') });
  assert.deepEqual(commandTable.TOP.parse('1 0'), { ok: true, args: { n: 1, bodyLines: 0 } });
  assert.deepEqual(commandTable.LIST.parse(''), { ok: true, args: { n: undefined } });
  assert.equal(commandTable.LIST.parse('0').ok, false);
  assert.equal(commandTable.RETR.parse('').ok, false);
  assert.equal(commandTable.STAT.parse('x').ok, false);
  assert.deepEqual(commandTable.PASS.parse('a b  c'), { ok: true, args: { password: 'a b  c' } });
  assert.deepEqual(commandTable.AUTH.parse('plain AGEAYg=='), { ok: true, args: { mechanism: 'PLAIN', initialResponse: 'AGEAYg==' } });
  assert.equal(commandTable.AUTH.parse('PLAIN a b').ok, false);
});

// ---- replies ----

test('serializeReply: +OK / -ERR [CODE] text, CRLF always (RFC 1939 §3, RFC 2449 §8)', () => {
  assert.equal(dec(serializeReply(ok(''))), '+OK\r\n');
  assert.equal(dec(serializeReply(ok('2 320'))), '+OK 2 320\r\n');
  assert.equal(dec(serializeReply(err(undefined, 'no such message'))), '-ERR no such message\r\n');
  assert.equal(dec(serializeReply(replies.maildropInUse)), '-ERR [IN-USE] maildrop already locked\r\n');
  assert.equal(dec(serializeReply(replies.loginDelay)), '-ERR [LOGIN-DELAY] logged in too recently, try again later\r\n');
  assert.equal(dec(serializeReply(replies.updateFailed)), '-ERR [SYS/TEMP] some deleted messages not removed\r\n');
  assert.equal(dec(serializeReply(replies.permanentlyUnavailable)), '-ERR [SYS/PERM] mailbox unavailable\r\n');
  assert.equal(dec(serializeReply(replies.plaintextDisallowed)), '-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n');
  assert.equal(dec(serializeContinuation('')), '+ \r\n');
});

test('serializeReply: refuses CR/LF in a text (no reply splitting) and lines over 512 octets (RFC 2449 §4)', () => {
  assert.throws(() => serializeReply(ok('a\r\n+OK forged')));
  assert.throws(() => serializeReply(ok('x'.repeat(510))));
  assert.doesNotThrow(() => serializeReply(ok('x'.repeat(505))));
});

test('serializeMultiline: listing lines are dot-stuffed and terminated', () => {
  assert.equal(dec(serializeMultiline(ok('follows'), ['TOP', '.hidden', ''])), '+OK follows\r\nTOP\r\n..hidden\r\n\r\n.\r\n');
});

// ---- message bodies ----

function stuff(chunks: string[]): string {
  const s = new DotStuffer();
  return chunks.map((c) => dec(s.encode(enc(c)))).join('') + dec(s.finish());
}

test('DotStuffer: lines starting with "." get one more (RFC 1939 §3), wherever chunks split', () => {
  const body = 'Subject: x\r\n\r\n.\r\n..two\r\nnot.first\r\n.end\r\n';
  const want = 'Subject: x\r\n\r\n..\r\n...two\r\nnot.first\r\n..end\r\n.\r\n';
  assert.equal(stuff([body]), want);
  for (let cut = 0; cut <= body.length; cut++) assert.equal(stuff([body.slice(0, cut), body.slice(cut)]), want, `cut at ${cut}`);
  assert.equal(stuff(body.split('')), want);
});

test('DotStuffer: the first line of the body can start with a dot; an empty body is just the terminator', () => {
  assert.equal(stuff(['.x\r\n']), '..x\r\n.\r\n');
  assert.equal(stuff([]), '.\r\n');
});

test('DotStuffer: bare LF becomes CRLF; a missing final CRLF is added; CRLF split across chunks stays one', () => {
  assert.equal(stuff(['a\nb\n']), 'a\r\nb\r\n.\r\n');
  assert.equal(stuff(['a\r', '\nb']), 'a\r\nb\r\n.\r\n');
  assert.equal(stuff(['a\n.b']), 'a\r\n..b\r\n.\r\n');
  assert.equal(stuff(['last\r']), 'last\r\n.\r\n');
  assert.equal(stuff(['\n\n']), '\r\n\r\n.\r\n');
});

test('DotStuffer: any bytes (binary garbage) pass through unchanged apart from line ends and stuffing', () => {
  const bytes = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256);
  const s = new DotStuffer();
  const out = Buffer.concat([s.encode(bytes), s.finish()]);
  const unstuffed = out.toString('latin1').replace(/\r\n\.\r\n$/, '').replace(/(^|\n)\./g, '$1');
  const want = Buffer.from(bytes).toString('latin1').replace(/\r?\n/g, '\r\n');
  assert.equal(unstuffed, want);
});

function topOf(message: string, n: number, chunkBytes: number): string {
  const cutter = new TopCutter(n);
  let out = '';
  for (let at = 0; at < message.length && !cutter.done; at += chunkBytes) out += dec(cutter.take(enc(message.slice(at, at + chunkBytes))));
  return out;
}

test('TopCutter: header, blank line and n body lines (RFC 1939 §7), for every chunk size', () => {
  const m = 'A: 1\r\nB: 2\r\n\r\nline1\r\nline2\r\nline3\r\n';
  for (const chunk of [1, 2, 3, 5, 64]) {
    assert.equal(topOf(m, 0, chunk), 'A: 1\r\nB: 2\r\n\r\n', `n=0 chunk=${chunk}`);
    assert.equal(topOf(m, 2, chunk), 'A: 1\r\nB: 2\r\n\r\nline1\r\nline2\r\n', `n=2 chunk=${chunk}`);
    assert.equal(topOf(m, 99, chunk), m, `n=99 chunk=${chunk}`);
  }
});

test('TopCutter: bare-LF messages, a header-only message, and stopping early', () => {
  assert.equal(topOf('A: 1\n\nb1\nb2\n', 1, 3), 'A: 1\n\nb1\n');
  assert.equal(topOf('A: 1\r\nB: 2\r\n', 5, 4), 'A: 1\r\nB: 2\r\n');
  const cutter = new TopCutter(0);
  assert.equal(dec(cutter.take(enc('H: v\r\n\r\nbody'))), 'H: v\r\n\r\n');
  assert.equal(cutter.done, true);
  assert.equal(cutter.take(enc('more')).length, 0);
});

// ---- SASL ----

test('decodeBase64Strict: canonical base64 only', () => {
  assert.equal(dec(decodeBase64Strict('AGFsaWNlAHB3') ?? enc('?')), '\0alice\0pw');
  assert.equal(decodeBase64Strict('AGFsaWNlAHB3='), undefined);
  assert.equal(decodeBase64Strict('AG Fs'), undefined);
  assert.equal(decodeBase64Strict('*'), undefined);
  assert.equal(decodeBase64Strict('QQ=a'), undefined);
  assert.equal(decodeBase64Strict('')?.length, 0);
});

test('decodePlain: RFC 4616 §2 message, field limits', () => {
  assert.deepEqual(decodePlain(enc('\0alice\0pw')), { ok: true, credentials: { authzid: '', authcid: 'alice', password: 'pw' } });
  assert.deepEqual(decodePlain(enc('admin\0alice\0pw')), { ok: true, credentials: { authzid: 'admin', authcid: 'alice', password: 'pw' } });
  assert.deepEqual(decodePlain(enc('alice\0pw')), { ok: false, error: 'FIELDS' });
  assert.deepEqual(decodePlain(enc('\0alice\0pw\0x')), { ok: false, error: 'FIELDS' });
  assert.deepEqual(decodePlain(enc('\0\0pw')), { ok: false, error: 'EMPTY' });
  assert.deepEqual(decodePlain(enc(`\0alice\0${'p'.repeat(256)}`)), { ok: false, error: 'TOO_LONG' });
  assert.deepEqual(decodePlain(Uint8Array.from([0, 0x61, 0, 0xff])), { ok: false, error: 'NOT_UTF8' });
});

// ---- CAPA ----

test('capabilities: USER and SASL only where plaintext auth is allowed, STLS only before TLS (RFC 2449, RFC 2595)', () => {
  const base = ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING'];
  assert.deepEqual(capabilities({ state: 'AUTHORIZATION', tlsAvailable: true, plaintextAuthAllowed: false }), [...base, 'STLS']);
  assert.deepEqual(capabilities({ state: 'AUTHORIZATION', tlsAvailable: false, plaintextAuthAllowed: true }), [...base, 'USER', 'SASL PLAIN']);
  assert.deepEqual(capabilities({ state: 'TRANSACTION', tlsAvailable: false, plaintextAuthAllowed: true }), base);
  assert.ok(!capabilities({ state: 'AUTHORIZATION', tlsAvailable: true, plaintextAuthAllowed: true }).some((c) => c.startsWith('APOP')));
});
