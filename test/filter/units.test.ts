// The washer's pure parts: disposition policy, header composition, DNSBL names, HELO rules, protocol parsers, config.
// No daemons and no sockets: values in, values out.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClamdReply } from '../../src/filter/clamd.ts';
import { parseFilterConfig, FilterConfigError } from '../../src/filter/config.ts';
import { createWasher } from '../../src/filter/index.ts';
import { clientFinding, ExpiringLru, heloIsValid, isListing, reversedIp } from '../../src/filter/dns.ts';
import { FilterError } from '../../src/filter/errors.ts';
import { foldField, headerSafe, washerHeaders } from '../../src/filter/headers.ts';
import { decide, decideRecipient, type Findings, type RecipientPolicy } from '../../src/filter/policy.ts';
import { listMatches, parseDomainSettings } from '../../src/filter/settings.ts';
import { parseResponse } from '../../src/filter/spamd.ts';
import { headerFromAddress } from '../../src/filter/washer.ts';

const authScores = { spfFailScore: 2, dkimFailScore: 1, dmarcFailScore: 3 };
const clean: Findings = { spam: { engine: 'spamd', status: 'scanned', score: 1, rules: ['A'] }, virus: { status: 'clean' }, auth: null, dnsbl: [], client: null };
const policy = (o: Partial<RecipientPolicy> = {}): RecipientPolicy => ({
  address: 'a@x.test', junkScore: 5, rejectScore: 15, dnsblAction: 'reject', enforceDmarc: true, clientChecks: true, spamFailMode: 'open', virusFailMode: 'open', allowedBy: null, blockedBy: null, ...o,
});
const withScore = (score: number): Findings => ({ ...clean, spam: { engine: 'spamd', status: 'scanned', score, rules: [] } });

test('three outcomes by score: below junk INBOX, between Junk, at reject refused 554 5.7.1', () => {
  assert.equal(decide(withScore(4.9), [policy()], authScores).outcome, 'inbox');
  assert.equal(decide(withScore(5), [policy()], authScores).outcome, 'junk');
  const r = decide(withScore(15), [policy()], authScores);
  assert.equal(r.outcome, 'reject');
  assert.deepEqual([r.reply?.code, r.reply?.enhanced], [554, '5.7.1']);
});

test('precedence: a virus beats the allow list; block beats allow; allow beats a high score', () => {
  const infected: Findings = { ...withScore(0), virus: { status: 'infected', name: 'Eicar' } };
  assert.equal(decideRecipient(infected, policy({ allowedBy: 'x.test' }), authScores).outcome, 'reject');
  assert.equal(decideRecipient(withScore(0), policy({ allowedBy: 'x.test', blockedBy: 'x.test' }), authScores).outcome, 'reject');
  assert.equal(decideRecipient(withScore(100), policy({ allowedBy: 'x.test' }), authScores).outcome, 'inbox');
});

test('fail modes: unscanned is delivered when open and 451 4.7.1 when closed', () => {
  const down: Findings = { ...clean, spam: { engine: 'spamd', status: 'unscanned', error: 'UNAVAILABLE' } };
  assert.equal(decide(down, [policy()], authScores).outcome, 'inbox');
  const closed = decide(down, [policy({ spamFailMode: 'closed' })], authScores);
  assert.deepEqual([closed.outcome, closed.reply?.code, closed.reply?.enhanced], ['tempfail', 451, '4.7.1']);
  const avDown: Findings = { ...clean, virus: { status: 'unscanned', error: 'TIMEOUT' } };
  assert.equal(decide(avDown, [policy({ virusFailMode: 'closed' })], authScores).outcome, 'tempfail');
});

test('DMARC: p=reject refuses 550 5.7.1, p=quarantine goes to Junk, enforcement off only scores', () => {
  const auth = (p: 'reject' | 'quarantine') => ({ ...clean, auth: { spf: 'fail', dkim: 'none', dmarc: 'fail', dmarcPolicy: p, arc: 'none', fromDomain: 'bank.test' } });
  const rej = decide(auth('reject'), [policy()], authScores);
  assert.deepEqual([rej.outcome, rej.reply?.code, rej.reply?.text], ['reject', 550, 'Message refused: DMARC policy of bank.test is reject']);
  assert.equal(decide(auth('quarantine'), [policy()], authScores).outcome, 'junk');
  const off = decide(auth('reject'), [policy({ enforceDmarc: false })], authScores);
  assert.equal(off.score, 1 + 2 + 3); // engine + SPF fail + DMARC fail
  assert.equal(off.outcome, 'junk');
});

test('DNSBL: reject lists refuse unless the domain says score or off; weights add to the score', () => {
  const listed: Findings = { ...withScore(0), dnsbl: [{ zone: 'bl.test', weight: 3, action: 'reject' }] };
  assert.match(decide(listed, [policy()], authScores).reply?.text ?? '', /blocked using bl\.test/);
  assert.equal(decide(listed, [policy({ dnsblAction: 'score' })], authScores).score, 3);
  assert.equal(decide(listed, [policy({ dnsblAction: 'off' })], authScores).score, 0);
});

test('several recipients: refused only if all refuse, Junk if any would not want INBOX, tempfail for all', () => {
  const f = withScore(8);
  assert.equal(decide(f, [policy(), policy({ junkScore: 10 })], authScores).outcome, 'junk');
  assert.equal(decide(withScore(20), [policy(), policy({ rejectScore: 30 })], authScores).outcome, 'junk');
  assert.equal(decide(withScore(20), [policy(), policy()], authScores).outcome, 'reject');
  assert.equal(decide(withScore(1), [policy(), policy({ junkScore: 0.5 })], authScores).outcome, 'junk');
  assert.throws(() => decide(f, [], authScores));
});

test('washer headers: one field per line, folded, nothing smuggled from scanner output', () => {
  const f: Findings = { ...clean, spam: { engine: 'spamd', status: 'scanned', score: 6.04, rules: ['GOOD_RULE', 'BAD\r\nX-Evil: 1'] } };
  const d = decide(f, [policy()], authScores);
  const h = washerHeaders({ findings: f, decision: d, authHeaders: 'Authentication-Results: mx;\n spf=pass\n', requiredScore: 5 });
  assert.ok(!h.includes('X-Evil'));
  assert.match(h, /^Authentication-Results: mx;\r\n\tspf=pass\r\nX-Spam-Status: Yes, score=6\.0 required=5\.0 tests=GOOD_RULE engine=spamd\r\nX-Spam-Score: 6\.0\r\nX-Spam-Flag: YES\r\n/);
  for (const line of h.split('\r\n').slice(0, -1)) assert.ok(line.length <= 160 && !/[\r\n]/.test(line));
  assert.equal(headerSafe('a\r\nb\u00e9'), 'a??b?');
  const long = foldField('X-Test', Array.from({ length: 30 }, (_, i) => `word${i}`).join(' '));
  assert.ok(long.split('\r\n').every((l) => l.length <= 78));
});

test('client hygiene counts unless the domain turns it off', () => {
  const f: Findings = { ...withScore(4), client: { ptr: null, confirmed: false, score: 1.5, reasons: ['RDNS_NONE'] } };
  assert.equal(decide(f, [policy()], authScores).outcome, 'junk');
  assert.equal(decide(f, [policy({ clientChecks: false })], authScores).outcome, 'inbox');
});

test('DNSBL query names (RFC 5782) and listings', () => {
  assert.equal(reversedIp('192.0.2.99'), '99.2.0.192');
  assert.equal(reversedIp('2001:db8::1'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2');
  assert.equal(reversedIp('::ffff:10.1.2.3'), '3.2.1.10');
  assert.equal(reversedIp('not an ip'), null);
  assert.equal(isListing('127.0.0.2'), true);
  assert.equal(isListing('127.255.255.254'), false);
  assert.equal(isListing('10.0.0.1'), false);
});

test('HELO and reverse DNS scoring', () => {
  const s = { noPtrScore: 1.5, ptrMismatchScore: 1, heloMismatchScore: 0.5, heloInvalidScore: 2 };
  assert.deepEqual(clientFinding('192.0.2.1', 'mail.x.test', { ptr: 'mail.x.test', confirmed: true }, s).reasons, []);
  assert.deepEqual(clientFinding('192.0.2.1', '[192.0.2.1]', { ptr: 'mail.x.test', confirmed: true }, s).reasons, []);
  assert.deepEqual(clientFinding('192.0.2.1', 'localhost', { ptr: null, confirmed: false }, s).reasons, ['RDNS_NONE', 'HELO_INVALID']);
  assert.deepEqual(clientFinding('192.0.2.1', 'other.x.test', { ptr: 'mail.x.test', confirmed: false }, s), { ptr: 'mail.x.test', confirmed: false, score: 1.5, reasons: ['RDNS_MISMATCH', 'HELO_MISMATCH'] });
  assert.equal(heloIsValid('[IPv6:2001:db8::1]'), true);
  assert.equal(heloIsValid('bad_name'), false);
});

test('spamd and clamd replies', () => {
  const r = parseResponse('SPAMD/1.1 0 EX_OK\r\nContent-length: 9\r\nSpam: True ; 1005.2 / 5.0\r\n\r\nGTUBE,X_Y');
  assert.equal(r.headers.get('spam'), 'True ; 1005.2 / 5.0');
  assert.equal(r.body, 'GTUBE,X_Y');
  assert.throws(() => parseResponse('SPAMD/1.1 76 Bad header line\r\n\r\n'), (e: unknown) => e instanceof FilterError && e.code === 'PROTOCOL');
  assert.throws(() => parseResponse(''), (e: unknown) => e instanceof FilterError && e.code === 'UNAVAILABLE');
  assert.deepEqual(parseClamdReply('stream: OK\0'), { infected: false });
  assert.deepEqual(parseClamdReply('stream: Eicar-Test.UNOFFICIAL FOUND\0'), { infected: true, name: 'Eicar-Test.UNOFFICIAL' });
  assert.throws(() => parseClamdReply('INSTREAM size limit exceeded. ERROR\0'), (e: unknown) => e instanceof FilterError && e.code === 'PROTOCOL');
});

test('settings: list matching and invalid stored values', () => {
  assert.equal(listMatches(['friend.test'], 'a@mail.friend.test'), 'friend.test');
  assert.equal(listMatches(['@friend.test'], 'a@friend.test'), '@friend.test');
  assert.equal(listMatches(['bob@x.test'], 'BOB@x.test'), 'bob@x.test');
  assert.equal(listMatches(['bob@x.test'], 'eve@x.test'), null);
  assert.equal(listMatches(['friend.test'], 'a@notfriend.test'), null);
  assert.equal(parseDomainSettings({ junkScore: 'high' }), null);
  assert.deepEqual(parseDomainSettings(undefined), {});
  assert.equal(headerFromAddress(Buffer.from('Subject: x\r\nFrom: "Ann, B" <Ann@Sender.Test>\r\n\r\nFrom: body@x.test\r\n')), 'ann@sender.test');
});

test('config: defaults, and impossible combinations refused by name', () => {
  const c = parseFilterConfig({});
  assert.equal(c.spam.engine, 'none');
  assert.deepEqual(c.thresholds, { junkScore: 5, rejectScore: 15 });
  assert.throws(() => parseFilterConfig({ spam: { engine: 'spamd' } }), /spam\.spamd/);
  assert.throws(() => parseFilterConfig({ thresholds: { junkScore: 10, rejectScore: 5 } }), FilterConfigError);
  assert.throws(() => parseFilterConfig({ dataDeadlineMs: 1000 }), /dataDeadlineMs/);
  assert.throws(() => parseFilterConfig({ unknown: 1 }), FilterConfigError);
  const settings = { domainSetting: async () => undefined, accountSetting: async () => undefined };
  // The washer must answer before the SMTP front end stops waiting for the hook.
  assert.throws(() => createWasher({ dataDeadlineMs: 30_000 }, { settings, hostname: 'mx.test', smtpBackendCallTimeoutMs: 30_000 }), /below the SMTP backendCallTimeoutMs/);
  assert.ok(createWasher({}, { settings, hostname: 'mx.test', smtpBackendCallTimeoutMs: 30_000 }));
});

test('the client cache is bounded and expires', () => {
  let now = 0;
  const lru = new ExpiringLru<number>(2, 100, () => now);
  lru.set('a', 1);
  lru.set('b', 2);
  lru.set('c', 3);
  assert.equal(lru.get('a'), undefined);
  assert.equal(lru.get('c'), 3);
  now = 101;
  assert.equal(lru.get('c'), undefined);
});
