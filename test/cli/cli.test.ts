// `stormo up` and the directory commands, driven as an operator would: the real node, the real CLI.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseConfig } from '../../src/cli/config.ts';
import { up } from '../../src/cli/up.ts';
import { verifyPassword } from '../../src/store/password.ts';

const run = promisify(execFile);
const bin = join(import.meta.dirname, '..', '..', 'bin', 'stormo.js');

async function stormo(dataDir: string, ...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [bin, ...args, '--data', dataDir]);
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

function config(dataDir: string) {
  return parseConfig({ dataDir, logLevel: 'warn', listen: { admin: 0, smtp: 0, submission: 0, submissions: 0, pop3: 0, pop3s: 0, imap: 0, imaps: 0 } });
}

test('up writes endpoints and a private admin token; the CLI manages domains, users and aliases', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-cli-'));
  const node = await up(config(dir));
  try {
    const endpoints = JSON.parse(await readFile(join(dir, 'endpoints.json'), 'utf8')) as { admin: string };
    assert.equal(endpoints.admin, node.endpoints.admin);
    assert.equal((await stat(join(dir, 'admin.token'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'tls', 'key.pem'))).mode & 0o777, 0o600);

    assert.equal((await stormo(dir, 'domain', 'add', 'Example.COM')).code, 0);
    assert.equal((await stormo(dir, 'user', 'add', 'alice@example.com', '--password', 'pw1', '--quota', '5000')).code, 0);
    const dup = await stormo(dir, 'user', 'add', 'alice@example.com', '--password', 'x');
    assert.notEqual(dup.code, 0);
    assert.match(dup.err, /EXISTS/);
    assert.match((await stormo(dir, 'user', 'add', 'carol@nowhere.org', '--password', 'x')).err, /NOT_FOUND: domain nowhere.org/);
    assert.equal((await stormo(dir, 'alias', 'add', 'team@example.com', 'alice@example.com')).code, 0);
    assert.match((await stormo(dir, 'user', 'list')).out, /^alice@example\.com\t5000\t0\t0$/m);
    assert.match((await stormo(dir, 'alias', 'list', 'example.com')).out, /team@example\.com\talice@example\.com/);
    assert.match((await stormo(dir, 'domain', 'list')).out, /example\.com\tdefault/);

    const account = await node.store.queries.accountByAddress('alice@example.com');
    assert.ok(account && account.passwordHash.startsWith('$argon2id$'));
    assert.ok(await verifyPassword('pw1', account.passwordHash));
    assert.equal((await stormo(dir, 'user', 'passwd', 'alice@example.com', '--password', 'pw2')).code, 0);
    const changed = await node.store.queries.accountByAddress('alice@example.com');
    assert.ok(await verifyPassword('pw2', changed!.passwordHash));

    assert.match((await stormo(dir, 'domain', 'remove', 'example.com')).err, /NOT_EMPTY/);
    assert.equal((await stormo(dir, 'alias', 'remove', 'team@example.com')).code, 0);
    assert.equal((await stormo(dir, 'user', 'remove', 'alice@example.com')).code, 0);
    assert.equal((await stormo(dir, 'domain', 'remove', 'example.com')).code, 0);
    assert.equal((await stormo(dir, 'domain', 'list')).out, '');
  } finally {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the admin API refuses requests without the token, and bad bodies with a clear 400', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-admin-'));
  const node = await up(config(dir));
  try {
    const base = node.endpoints.admin;
    assert.equal((await fetch(`${base}/v1/domains`)).status, 401);
    assert.equal((await fetch(`${base}/v1/domains`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    const token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
    const h = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const bad = await fetch(`${base}/v1/users`, { method: 'POST', headers: h, body: JSON.stringify({ address: 'a@b.c', extra: 1 }) });
    assert.equal(bad.status, 400);
    const notJson = await fetch(`${base}/v1/domains`, { method: 'POST', headers: h, body: '{"name":' });
    assert.equal(notJson.status, 400);
    assert.equal((await fetch(`${base}/health/live`)).status, 200);
    assert.equal((await fetch(`${base}/health/ready`)).status, 200);
  } finally {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('a bad config file names each bad field and exits 78', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-cfg-'));
  try {
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ listen: { pop3: 70000 }, hostname: '', surprise: true }));
    const r = await stormo(dir, 'up', '--config', join(dir, 'bad.json'));
    assert.equal(r.code, 78);
    assert.match(r.err, /listen\.pop3/);
    assert.match(r.err, /hostname/);
    assert.match(r.err, /surprise/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
