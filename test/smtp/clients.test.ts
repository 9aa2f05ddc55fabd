// Real clients against the three listeners: swaks and nodemailer over plain, STARTTLS and implicit TLS, with AUTH.
// Each accepted message is read back from the backend and compared byte for byte, trace headers included.

import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import nodemailer from 'nodemailer';
import { pino } from 'pino';
import { type Fixture, hostname, RawClient, serverLines, startFixture, swaks, testCert } from './helpers.ts';

let f: Fixture;
before(async () => {
  f = await startFixture();
});
after(async () => {
  await f.stop();
});

// Ends in CRLF; one line starts with a dot (the clients stuff it, the server unstuffs it).
const message =
  'From: Alice <alice@example.test>\r\n' +
  'To: Bob <bob@example.test>\r\n' +
  'Subject: byte for byte\r\n' +
  'Message-ID: <m1@example.test>\r\n' +
  '\r\n' +
  'line one\r\n' +
  '.a line starting with a dot\r\n' +
  'last line\r\n';

const tlsLine = /^\t\(using TLSv1\.[23] with cipher [A-Za-z0-9_-]+\)$/;

/** The accepted message's log entry (its id is in the 250 reply). */
function accepted(reply: string): Record<string, unknown> {
  const id = /stored as (\S+)/.exec(reply)?.[1];
  assert.ok(id !== undefined, `no id in ${reply}`);
  const entry = f.logger.events('message.accepted').find((e) => e['id'] === id);
  assert.ok(entry !== undefined, `no log entry for ${id}`);
  assert.equal(typeof entry['cid'], 'string');
  assert.equal(typeof entry['tnx'], 'string');
  return entry;
}

/**
 * Asserts the one stored copy of message `id` for `account` is exactly our two trace
 * headers followed by `data`. The TLS line, when present, is matched by pattern (the
 * cipher is the client's choice); everything else is compared literally.
 */
function assertStored(reply: string, o: { account: string; from: string; helo: string; protocol: string; tls: boolean; rcpt: string | null; data: string }): void {
  const entry = accepted(reply);
  const copies = f.backend.messages.filter((m) => m.id === entry['id'] && m.accountId === o.account);
  assert.equal(copies.length, 1);
  const content = (copies[0]?.content ?? Buffer.alloc(0)).toString('latin1');
  const lines = content.split('\r\n');
  const tlsPart = o.tls ? [lines[2] ?? ''] : [];
  if (o.tls) assert.match(lines[2] ?? '', tlsLine);
  const date = 'Tue, 05 Nov 2024 09:03:07 +0000';
  const by = `\tby ${hostname} (stormo) with ${o.protocol} id ${String(entry['tnx'])}`;
  const expected = [
    `Return-Path: <${o.from}>`,
    `Received: from ${o.helo} (unknown [127.0.0.1])`,
    ...tlsPart,
    ...(o.rcpt === null ? [`${by}; ${date}`] : [by, `\tfor <${o.rcpt}>; ${date}`]),
  ].join('\r\n');
  assert.equal(content, `${expected}\r\n${o.data}`);
}

describe('swaks', () => {
  // swaks always writes CRLF before the final dot, even after a CRLF-terminated message
  // (seen on the wire), so what it transmits is the message plus an empty line.
  const sent = `${message}\r\n`;
  const dataFile = (): string => {
    const p = join(testCert().dir, 'message.eml');
    writeFileSync(p, message);
    return p;
  };

  test('MX, cleartext: accepted and stored byte for byte', async () => {
    const r = await swaks(['--port', String(f.ports.mx), '--from', 'sender@remote.example', '--to', 'bob@example.test', '--data', `@${dataFile()}`]);
    assert.equal(r.code, 0, r.output);
    const reply = serverLines(r.output).find((l) => l.startsWith('250 2.0.0')) ?? '';
    assertStored(reply, { account: f.bob, from: 'sender@remote.example', helo: 'client.example.net', protocol: 'ESMTP', tls: false, rcpt: 'bob@example.test', data: sent });
  });

  test('MX, STARTTLS: the Received header names the cipher', async () => {
    const r = await swaks(['--port', String(f.ports.mx), '--tls', '--from', 'sender@remote.example', '--to', 'alice@example.test', '--data', `@${dataFile()}`]);
    assert.equal(r.code, 0, r.output);
    assert.match(r.output, /TLS started with cipher TLSv1\.[23]/);
    const reply = serverLines(r.output).find((l) => l.startsWith('250 2.0.0')) ?? '';
    assertStored(reply, { account: f.alice, from: 'sender@remote.example', helo: 'client.example.net', protocol: 'ESMTPS', tls: true, rcpt: 'alice@example.test', data: sent });
  });

  test('MX: EHLO offers PIPELINING, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, STARTTLS, SIZE; no AUTH', async () => {
    const r = await swaks(['--port', String(f.ports.mx), '--quit-after', 'EHLO', '--to', 'bob@example.test']);
    const ehlo = serverLines(r.output).filter((l) => l.startsWith('250'));
    for (const cap of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'STARTTLS', 'SIZE 26214400']) {
      assert.ok(ehlo.some((l) => l.slice(4) === cap), `${cap} in ${ehlo.join(' | ')}`);
    }
    assert.ok(!ehlo.some((l) => l.includes('AUTH')));
  });

  test('submission 587: STARTTLS then AUTH PLAIN, sent as ESMTPSA', async () => {
    const r = await swaks([
      '--port', String(f.ports.submission), '--tls', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'alice-secret',
      '--from', 'alice@example.test', '--to', 'bob@example.test', '--data', `@${dataFile()}`,
    ]);
    assert.equal(r.code, 0, r.output);
    assert.ok(serverLines(r.output).includes('235 2.7.0 Authentication successful'), r.output);
    const reply = serverLines(r.output).find((l) => l.startsWith('250 2.0.0')) ?? '';
    assertStored(reply, { account: f.bob, from: 'alice@example.test', helo: 'client.example.net', protocol: 'ESMTPSA', tls: true, rcpt: 'bob@example.test', data: sent });
  });

  test('submission 587: AUTH LOGIN, several recipients (no for clause), alias expanded', async () => {
    const r = await swaks([
      '--port', String(f.ports.submission), '--tls', '--auth', 'LOGIN', '--auth-user', 'alice', '--auth-password', 'alice-secret',
      '--from', 'a.liddell@other.example.test', '--to', 'bob@example.test,team@example.test', '--data', `@${dataFile()}`,
    ]);
    assert.equal(r.code, 0, r.output);
    const reply = serverLines(r.output).find((l) => l.startsWith('250 2.0.0')) ?? '';
    const o = { from: 'a.liddell@other.example.test', helo: 'client.example.net', protocol: 'ESMTPSA', tls: true, rcpt: null, data: sent };
    assertStored(reply, { ...o, account: f.bob }); // once, although bob is both a recipient and in team@
    assertStored(reply, { ...o, account: f.alice });
  });

  test('submission 587: no AUTH before STARTTLS (not even offered)', async () => {
    const r = await swaks([
      '--port', String(f.ports.submission), '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'alice-secret',
      '--from', 'alice@example.test', '--to', 'bob@example.test',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.output, /advertise/i); // swaks: "Host did not advertise authentication"
    assert.ok(!serverLines(r.output).some((l) => l.includes('AUTH')));
  });

  test('submissions 465: implicit TLS and AUTH LOGIN', async () => {
    const r = await swaks([
      '--port', String(f.ports.submissions), '--tls-on-connect', '--auth', 'LOGIN', '--auth-user', 'bob@example.test', '--auth-password', 'bob-secret',
      '--from', 'bob@example.test', '--to', 'alice@example.test', '--data', `@${dataFile()}`,
    ]);
    assert.equal(r.code, 0, r.output);
    const reply = serverLines(r.output).find((l) => l.startsWith('250 2.0.0')) ?? '';
    assertStored(reply, { account: f.alice, from: 'bob@example.test', helo: 'client.example.net', protocol: 'ESMTPSA', tls: true, rcpt: 'alice@example.test', data: sent });
  });

  test('submission: sending as someone else is refused with 553 5.7.1', async () => {
    const r = await swaks([
      '--port', String(f.ports.submission), '--tls', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'alice-secret',
      '--from', 'bob@example.test', '--to', 'bob@example.test',
    ]);
    assert.notEqual(r.code, 0);
    assert.ok(serverLines(r.output).includes('553 5.7.1 Sender address rejected: not owned by the authenticated user'), r.output);
  });

  test('submission: a remote recipient is refused with 550 5.7.1', async () => {
    const r = await swaks([
      '--port', String(f.ports.submission), '--tls', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'alice-secret',
      '--from', 'alice@example.test', '--to', 'friend@remote.example',
    ]);
    assert.notEqual(r.code, 0);
    assert.ok(serverLines(r.output).includes('550 5.7.1 Relaying to remote domains is not available yet'), r.output);
  });

  test('submission: a wrong password gets 535 5.7.8', async () => {
    const r = await swaks([
      '--port', String(f.ports.submission), '--tls', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'wrong',
      '--from', 'alice@example.test', '--to', 'bob@example.test',
    ]);
    assert.notEqual(r.code, 0);
    assert.ok(serverLines(r.output).includes('535 5.7.8 Authentication credentials invalid'), r.output);
  });
});

describe('nodemailer', () => {
  const raw = Buffer.from(message, 'latin1');
  const base = { host: '127.0.0.1', name: 'nodemailer.example.net', tls: { rejectUnauthorized: false }, connectionTimeout: 5000 };

  test('MX, cleartext', async () => {
    const t = nodemailer.createTransport({ ...base, port: f.ports.mx, secure: false, ignoreTLS: true });
    const info = await t.sendMail({ envelope: { from: 'sender@remote.example', to: ['alice@example.test'] }, raw });
    assertStored(info.response, { account: f.alice, from: 'sender@remote.example', helo: 'nodemailer.example.net', protocol: 'ESMTP', tls: false, rcpt: 'alice@example.test', data: message });
  });

  test('MX, STARTTLS required by the client', async () => {
    const t = nodemailer.createTransport({ ...base, port: f.ports.mx, secure: false, requireTLS: true });
    const info = await t.sendMail({ envelope: { from: '', to: ['bob@example.test'] }, raw });
    assertStored(info.response, { account: f.bob, from: '', helo: 'nodemailer.example.net', protocol: 'ESMTPS', tls: true, rcpt: 'bob@example.test', data: message });
  });

  for (const authMethod of ['PLAIN', 'LOGIN'] as const) {
    test(`submission 587: STARTTLS, AUTH ${authMethod}`, async () => {
      const t = nodemailer.createTransport({ ...base, port: f.ports.submission, secure: false, requireTLS: true, authMethod, auth: { user: 'alice', pass: 'alice-secret' } });
      const info = await t.sendMail({ envelope: { from: 'alice@example.test', to: ['bob@example.test'] }, raw });
      assertStored(info.response, { account: f.bob, from: 'alice@example.test', helo: 'nodemailer.example.net', protocol: 'ESMTPSA', tls: true, rcpt: 'bob@example.test', data: message });
    });
  }

  test('submissions 465: implicit TLS, AUTH PLAIN, an 8-bit UTF-8 body without BODY=8BITMIME', async () => {
    const body = Buffer.from('Subject: caff\u00e8\r\n\r\nperch\u00e9 no?\r\n', 'utf8');
    const t = nodemailer.createTransport({ ...base, port: f.ports.submissions, secure: true, auth: { user: 'bob@example.test', pass: 'bob-secret' } });
    const info = await t.sendMail({ envelope: { from: 'bob@example.test', to: ['alice@example.test'] }, raw: body });
    const entry = accepted(info.response);
    const stored = f.backend.messages.find((m) => m.id === entry['id']);
    assert.ok(stored?.content.subarray(stored.content.length - body.length).equals(body));
  });

  test('submission 587: AUTH before STARTTLS is refused with 530 5.7.0', async () => {
    const { client } = await RawClient.open(f.ports.submission);
    await client.command('EHLO raw.example.net');
    assert.equal(await client.command('AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA=='), '530 5.7.0 Must issue a STARTTLS command first');
    assert.equal(await client.command('MAIL FROM:<alice@example.test>'), '530 5.7.0 Must issue a STARTTLS command first');
    client.close();
  });

  test('submission: refusals reach nodemailer with their codes', async () => {
    const t = nodemailer.createTransport({ ...base, port: f.ports.submission, secure: false, requireTLS: true, auth: { user: 'alice', pass: 'alice-secret' } });
    await assert.rejects(t.sendMail({ envelope: { from: 'bob@example.test', to: ['bob@example.test'] }, raw }), (e: { responseCode?: number; response?: string }) => {
      assert.equal(e.responseCode, 553);
      assert.match(e.response ?? '', /^553 5\.7\.1 /);
      return true;
    });
    await assert.rejects(t.sendMail({ envelope: { from: 'alice@example.test', to: ['x@remote.example'] }, raw }), (e: { responseCode?: number; response?: string }) => {
      assert.equal(e.responseCode, 550);
      assert.match(e.response ?? '', /^550 5\.7\.1 Relaying to remote domains is not available yet/);
      return true;
    });
  });
});

describe('pino', () => {
  test('a pino logger gets one JSON line per message with id, cid and tnx', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter((l) => l !== ''));
        done();
      },
    });
    const p = await startFixture({ logger: pino({ level: 'info' }, sink) });
    try {
      const { client } = await RawClient.open(p.ports.mx);
      await client.command('EHLO client.example.net');
      const ok = await client.send('a@remote.example', ['alice@example.test'], 'Subject: logged\r\n\r\nx\r\n');
      const refused = await client.send('a@remote.example', ['nobody@example.test'], 'x\r\n');
      client.close();
      assert.equal(refused, '550 5.1.1 Recipient address rejected: user unknown');
      const events = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const accepted = events.filter((e) => e['event'] === 'message.accepted');
      assert.equal(accepted.length, 1);
      assert.ok(ok.endsWith(String(accepted[0]?.['id'])));
      for (const k of ['cid', 'tnx', 'subsystem', 'listener']) assert.equal(typeof accepted[0]?.[k], 'string', k);
      const rcpt = events.find((e) => e['event'] === 'rcpt.refused');
      assert.equal(rcpt?.['reply'], '550 5.1.1 Recipient address rejected: user unknown');
      assert.equal(typeof rcpt?.['tnx'], 'string');
    } finally {
      await p.stop();
    }
  });
});
