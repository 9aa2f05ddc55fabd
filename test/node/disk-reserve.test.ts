// The free-space reserve: mail is refused with 452 4.3.1 while enough room stays for metadata,
// so the store never meets a full disk and directory changes keep working (Postfix's queue_minfree).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseConfig } from '../../src/cli/config.ts';
import { up } from '../../src/cli/up.ts';
import { RawSmtpClient } from './fixtures/smtp-client.ts';

const run = promisify(execFile);
const mib = 1024 * 1024;

test('mail stops at the reserve with 452 4.3.1; metadata writes go on; the store keeps running', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('not root: mounting a tmpfs needs CAP_SYS_ADMIN');
  const mnt = await mkdtemp(join(tmpdir(), 'stormo-reserve-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=0700', 'tmpfs', mnt]);
  } catch (e) {
    await rm(mnt, { recursive: true, force: true });
    return t.skip(`mount -t tmpfs failed: ${(e as Error).message}`);
  }
  let fatal: Error | undefined;
  const node = await up(
    parseConfig({ dataDir: mnt, logLevel: 'error', diskReserveBytes: 10 * mib, listen: { admin: 0, smtp: 0, submission: 0, submissions: 0, pop3: 0, pop3s: 0, imap: 0, imaps: 0 } }),
    { onFatal: (e) => (fatal = e) },
  );
  try {
    const token = (await readFile(join(mnt, 'admin.token'), 'utf8')).trim();
    const post = (path: string, body: unknown) =>
      fetch(`${node.endpoints.admin}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post('/v1/domains', { name: 'example.com' })).status, 201);
    assert.equal((await post('/v1/users', { address: 'alice@example.com', password: 'pw' })).status, 201);

    const { client } = await RawSmtpClient.connect(Number(node.endpoints.smtp!.split(':')[1]));
    await client.command('EHLO client.example');
    const line = `${'x'.repeat(76)}\r\n`;
    const body = (i: number): Buffer => Buffer.from(`Subject: ${i}\r\n\r\n${line.repeat(Math.floor(mib / line.length))}`);
    let acked = 0;
    let refusal = '';
    for (let i = 0; i < 20 && !refusal; i++) {
      const r = await client.send('bob@remote.example', ['alice@example.com'], body(i));
      if (r.reply.code === 250) acked++;
      else refusal = `${r.reply.code} ${r.reply.enhanced}`;
    }
    assert.equal(refusal, '452 4.3.1', 'refused at the reserve, temporarily');
    assert.ok(acked >= 2 && acked <= 6, `${acked} MiB accepted on a 16 MiB disk with a 10 MiB reserve`);
    const s = await statfs(mnt);
    assert.ok(s.bavail * s.bsize >= 9 * mib, 'the reserve is still free');

    // Metadata still has room: directory changes and deletions work, the store did not stop.
    for (let i = 0; i < 50; i++) assert.equal((await post('/v1/users', { address: `u${i}@example.com`, password: 'pw' })).status, 201);
    assert.equal(fatal, undefined);
    assert.equal(node.store.status().state, 'running');
    assert.equal((await fetch(`${node.endpoints.admin}/health/ready`)).status, 200);
    const account = (await node.store.queries.accountByAddress('alice@example.com'))!;
    assert.equal(account.messages, acked);
    await client.quit();
  } finally {
    await node.stop();
    await run('umount', [mnt]).catch(() => {});
    await rm(mnt, { recursive: true, force: true });
  }
});
