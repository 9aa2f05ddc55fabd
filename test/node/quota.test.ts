// Quota end to end (RFC 5321 552, RFC 3463 5.2.2) on `stormo up` with the real store: refused at RCPT
// when already over (or when SIZE says it will not fit), after DATA when the message would push a
// single recipient over, and the documented grace when only some recipients are full (data.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type ChildNode, adminClient, portOf, readAdminToken, startChildNode, writeNodeConfig } from './fixtures/child-node.ts';
import { RawSmtpClient, type Reply, formatReply } from './fixtures/smtp-client.ts';

const run = promisify(execFile);
const domain = 'quota.example';
const quotaBytes = 20_000;
/** Sent bytes per message; stored a few hundred more (Return-Path and Received). */
const messageBytes = 6_000;
const password = 'quota-pw';

function message(subject: string, bytes: number): Buffer {
  const head = `From: <sender@remote.example>\r\nTo: <undisclosed@${domain}>\r\nSubject: ${subject}\r\n\r\n`;
  const line = `${'q'.repeat(70)}\r\n`;
  let text = head;
  while (text.length + line.length <= bytes - 2) text += line;
  text += `${'e'.repeat(Math.max(0, bytes - text.length - 2))}\r\n`;
  return Buffer.from(text, 'latin1');
}

interface UserRow {
  address: string;
  quotaBytes: number;
  usedBytes: number;
  messages: number;
}

function expectReply(r: Reply, code: number, enhanced: string, what: string): void {
  assert.equal(`${r.code} ${r.enhanced}`, `${code} ${enhanced}`, `${what}: got ${formatReply(r)}`);
}

test('quota: 552 5.2.2 at RCPT when over, after DATA when it would go over; grace for mixed recipients', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-quota-'));
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'stormo.json');
  await writeNodeConfig(configFile, dataDir, { logLevel: 'info' });
  let child: ChildNode | undefined;
  let smtp: RawSmtpClient | undefined;
  try {
    child = await startChildNode(configFile, dataDir);
    const admin = adminClient(child.endpoints.admin, await readAdminToken(dataDir));
    assert.equal((await admin('POST', '/v1/domains', { name: domain })).status, 201);
    for (const u of ['full', 'tight1', 'tight2']) {
      assert.equal((await admin('POST', '/v1/users', { address: `${u}@${domain}`, password, quotaBytes })).status, 201);
    }
    assert.equal((await admin('POST', '/v1/users', { address: `roomy@${domain}`, password })).status, 201);
    const usersNow = async (): Promise<Map<string, UserRow>> => {
      const r = await admin('GET', `/v1/users?domain=${domain}`);
      assert.equal(r.status, 200);
      return new Map((r.json as { users: UserRow[] }).users.map((u) => [u.address.split('@')[0]!, u]));
    };

    const c = await RawSmtpClient.connect(portOf(child.endpoints.smtp));
    smtp = c.client;
    const ehlo = await smtp.command('EHLO client.remote.example');
    assert.ok(ehlo.lines.some((l) => /^250[ -]SIZE\b/.test(l)), 'SIZE (RFC 1870) is advertised');
    const send = (to: string[], body: Buffer, params = '') => smtp!.send('sender@remote.example', to.map((u) => `${u}@${domain}`), body, params);

    // Three messages fit in 20,000 bytes; the fourth would not.
    for (const u of ['full', 'tight1', 'tight2']) {
      for (let i = 0; i < 3; i++) expectReply((await send([u], message(`${u} ${i}`, messageBytes))).reply, 250, '2.0.0', `${u} message ${i}`);
    }
    const filled = await usersNow();
    const used = filled.get('full')!.usedBytes;
    assert.equal(filled.get('full')!.messages, 3);
    assert.ok(used > 3 * messageBytes && used <= quotaBytes && used + messageBytes > quotaBytes, `usedBytes ${used} leaves less than one message`);

    // Not over yet, no SIZE: RCPT is accepted, the message is refused after DATA and not stored.
    const after = await send(['full'], message('one too many', messageBytes));
    assert.equal(after.stage, 'data');
    expectReply(after.reply, 552, '5.2.2', 'over quota after DATA');
    // With SIZE the same message is refused at RCPT already (RFC 1870 §6.1).
    const sized = await send(['full'], message('sized', messageBytes), ` SIZE=${messageBytes}`);
    assert.equal(sized.stage, 'rcpt');
    expectReply(sized.reply, 552, '5.2.2', 'SIZE over quota at RCPT');
    // A message that still fits is taken.
    const small = message('small', Math.max(200, quotaBytes - used - 600));
    expectReply((await send(['full'], small)).reply, 250, '2.0.0', 'a message that still fits');
    const nearly = (await usersNow()).get('full')!;
    assert.equal(nearly.messages, 4);
    assert.ok(nearly.usedBytes <= quotaBytes, `still within quota: ${nearly.usedBytes}`);

    // Every recipient would go over: 552 for the whole message, nothing stored anywhere.
    const both = await send(['tight1', 'tight2'], message('both full', messageBytes));
    assert.equal(both.stage, 'data');
    expectReply(both.reply, 552, '5.2.2', 'all recipients over quota');
    const unchanged = await usersNow();
    for (const u of ['tight1', 'tight2']) assert.deepEqual(unchanged.get(u), filled.get(u), `${u} unchanged`);

    // Only `full` would go over: stored for both, `full` goes over by this one message (quota.grace).
    const mixed = await send(['full', 'roomy'], message('grace', messageBytes));
    assert.equal(mixed.stage, 'data');
    expectReply(mixed.reply, 250, '2.0.0', 'mixed recipients');
    const graced = await usersNow();
    assert.equal(graced.get('full')!.messages, 5);
    assert.ok(graced.get('full')!.usedBytes > quotaBytes, `full is over quota now: ${graced.get('full')!.usedBytes}`);
    assert.equal(graced.get('roomy')!.messages, 1);
    assert.equal(graced.get('full')!.usedBytes - nearly.usedBytes, graced.get('roomy')!.usedBytes, 'the same message for both');

    // Already over: refused at RCPT even without SIZE, even a tiny message; the other recipient still gets it.
    const over = await send(['full'], message('tiny', 200));
    assert.equal(over.stage, 'rcpt');
    expectReply(over.reply, 552, '5.2.2', 'already over quota at RCPT');
    const partial = await send(['full', 'roomy'], message('to roomy only', 300));
    expectReply(partial.reply, 250, '2.0.0', 'the recipient with room');
    const final = await usersNow();
    assert.equal(final.get('full')!.messages, 5);
    assert.equal(final.get('roomy')!.messages, 2);
    await smtp.quit();
    smtp = undefined;

    // POP3 (curl) sees exactly what the admin API counts: no copy lost or doubled.
    const pop3s = portOf(child.endpoints.pop3s);
    for (const u of ['full', 'roomy']) {
      const list = await run('curl', ['-sk', '--user', `${u}@${domain}:${password}`, `pop3s://127.0.0.1:${pop3s}/`], { timeout: 20_000 });
      const sizes = list.stdout.trim().split(/\r?\n/).map((l) => Number(l.split(' ')[1]));
      assert.equal(sizes.length, final.get(u)!.messages, `${u}: POP3 LIST`);
      assert.equal(sizes.reduce((a, b) => a + b, 0), final.get(u)!.usedBytes, `${u}: POP3 sizes add up to usedBytes`);
    }

    // The grace was logged once, naming the one account that went over (G5: nothing silent).
    const events = child
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { event?: string; recipients?: string[]; overQuota?: string[]; reply?: string });
    const grace = events.filter((e) => e.event === 'quota.grace');
    assert.equal(grace.length, 1, 'one quota.grace event');
    assert.deepEqual(grace[0]!.recipients, [`full@${domain}`, `roomy@${domain}`]);
    assert.equal(grace[0]!.overQuota!.length, 1);
    const refusals = events.filter((e) => e.event === 'message.refused' || e.event === 'rcpt.refused').map((e) => e.reply);
    assert.equal(refusals.filter((r) => r?.startsWith('552 5.2.2')).length, 5, `each 552 is logged: ${JSON.stringify(refusals)}`);

    const stop = await child.kill('SIGTERM');
    assert.deepEqual(stop, { code: 0, signal: null }, `stormo up stops cleanly:\n${child.output()}`);
    child = undefined;
  } finally {
    smtp?.destroy();
    if (child) await child.kill('SIGKILL').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});
