// The node as users meet it: `stormo up`, a domain and a user through the admin API, mail in with
// swaks and nodemailer, mail out over POP3 with curl and Python's poplib, byte for byte.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import { parseConfig } from '../../src/cli/config.ts';
import { type RunningNode, up } from '../../src/cli/up.ts';

const run = promisify(execFile);

async function startNode(dir: string): Promise<RunningNode> {
  const node = await up(parseConfig({ dataDir: dir, logLevel: 'warn', listen: { admin: 0, smtp: 0, submission: 0, submissions: 0, pop3: 0, pop3s: 0, imap: 0, imaps: 0 } }));
  const token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
  const admin = (path: string, body: unknown) =>
    fetch(`${node.endpoints.admin}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal((await admin('/v1/domains', { name: 'example.com' })).status, 201);
  assert.equal((await admin('/v1/users', { address: 'alice@example.com', password: 'wonderland' })).status, 201);
  return node;
}

const port = (hostPort: string | undefined): number => Number(hostPort!.split(':')[1]);

test('swaks and nodemailer deliver; curl and poplib read it back byte for byte; DELE at QUIT', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-e2e-'));
  const node = await startNode(dir);
  try {
    const e = node.endpoints;
    const swaks = await run('swaks', ['--to', 'Alice@example.com', '--from', 'bob@remote.example', '--server', `127.0.0.1:${port(e.smtp)}`, '--header', 'Subject: first', '--body', 'sent with swaks'], { timeout: 20_000 });
    assert.match(swaks.stdout, /250 2\.0\.0 Ok: stored as/);
    const refused = await run('swaks', ['--to', 'nobody@example.com', '--from', 'bob@remote.example', '--server', `127.0.0.1:${port(e.smtp)}`], { timeout: 20_000 }).catch((x: { stdout: string }) => x);
    assert.match(refused.stdout, /550 5\.1\.1/);

    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: port(e.submission), secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'alice@example.com', pass: 'wonderland' } });
    await transport.sendMail({ from: 'alice@example.com', to: 'alice@example.com', subject: 'second', text: 'sent with nodemailer' });
    await assert.rejects(transport.sendMail({ from: 'mallory@example.com', to: 'alice@example.com', subject: 'x', text: 'x' }), /553/);
    transport.close();

    const account = (await node.store.queries.accountByAddress('alice@example.com'))!;
    const inbox = (await node.store.queries.folderByName(account.id, 'INBOX'))!;
    const stored = await node.store.queries.messages(account.id, inbox.id, 10);
    assert.equal(stored.length, 2);

    // curl over implicit TLS: RETR 1 must be the stored bytes exactly (curl prints the dot-unstuffed body).
    const got = await run('curl', ['-sk', '--user', 'alice@example.com:wonderland', `pop3s://127.0.0.1:${port(e.pop3s)}/1`], { encoding: 'buffer', timeout: 20_000 });
    const blob = await readFile(join(dir, 'blobs', stored[0]!.blobId.slice(0, 2), stored[0]!.blobId.slice(2, 4), stored[0]!.blobId));
    assert.deepEqual(Buffer.from(got.stdout), blob);
    const text = blob.toString();
    assert.match(text, /^Return-Path: <bob@remote\.example>\r\nReceived: from /);
    assert.match(text, /for <Alice@example\.com>/);
    assert.match(text, /sent with swaks/);

    const list = await run('curl', ['-sk', '--user', 'alice@example.com:wonderland', `pop3s://127.0.0.1:${port(e.pop3s)}/`], { timeout: 20_000 });
    assert.deepEqual(list.stdout.trim().split(/\r?\n/).map((l) => Number(l.split(' ')[1])), stored.map((m) => m.size));
    const wrong = await run('curl', ['-sk', '--user', 'alice@example.com:nope', `pop3s://127.0.0.1:${port(e.pop3s)}/`], { timeout: 20_000 }).catch((x: { code: number }) => x);
    assert.equal((wrong as { code: number }).code, 67, 'curl: login denied');

    // Python's poplib with STLS on the plain port: read, delete the first, QUIT; a new session sees one left.
    const py = `
import poplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3('127.0.0.1', ${port(e.pop3)}); p.stls(context=ctx); p.user('alice@example.com'); p.pass_('wonderland')
n, _ = p.stat(); body = b'\\n'.join(p.retr(2)[1]); p.dele(1); p.quit()
q = poplib.POP3_SSL('127.0.0.1', ${port(e.pop3s)}, context=ctx); q.user('alice@example.com'); q.pass_('wonderland')
m, _ = q.stat(); uidl = q.uidl()[1]; q.quit()
print(n, m, b'sent with nodemailer' in body, len(uidl))
`;
    const out = await run('python3', ['-c', py], { timeout: 30_000 });
    assert.equal(out.stdout.trim(), '2 1 True 1');
    const left = await node.store.queries.messages(account.id, inbox.id, 10);
    assert.deepEqual(left.map((m) => m.uid), [stored[1]!.uid]);
  } finally {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
