// IMAP in a whole node (`stormo up`): mail delivered over SMTP reaches an IDLE session within a second,
// carries its MIME summary from delivery, and reads back over IMAP byte for byte.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import nodemailer from 'nodemailer';
import { parseConfig } from '../../src/cli/config.ts';
import { up } from '../../src/cli/up.ts';
import { RawImap, expectOk } from './client.ts';

const port = (hostPort: string | undefined): number => Number(hostPort!.split(':')[1]);

test('SMTP delivery is told to an IDLE session within a second; the summary is stored at delivery', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-imap-node-'));
  const node = await up(parseConfig({ dataDir: dir, logLevel: 'warn', listen: { admin: 0, smtp: 0, submission: 0, submissions: 0, pop3: 0, pop3s: 0, imap: 0, imaps: 0 } }));
  try {
    const token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
    const admin = (path: string, body: unknown) =>
      fetch(`${node.endpoints.admin}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await admin('/v1/domains', { name: 'example.com' })).status, 201);
    assert.equal((await admin('/v1/users', { address: 'alice@example.com', password: 'wonderland' })).status, 201);
    assert.ok(node.endpoints.imap && node.endpoints.imaps);

    const c = await RawImap.connect(port(node.endpoints.imaps), { tls: true, insecure: true });
    expectOk(await c.command('LOGIN alice@example.com wonderland'));
    expectOk(await c.command('SELECT INBOX'));
    c.write('i1 IDLE\r\n');
    assert.match(await c.readResponse(), /^\+ /);

    const transport = nodemailer.createTransport({ host: '127.0.0.1', port: port(node.endpoints.smtp), secure: false, ignoreTLS: true });
    const t0 = Date.now();
    await transport.sendMail({ from: 'bob@remote.example', to: 'alice@example.com', subject: 'over smtp', text: 'delivered' });
    transport.close();
    await c.waitFor(/^\* 1 EXISTS$/, 1_000);
    assert.ok(Date.now() - t0 < 2_000);
    c.write('DONE\r\n');
    expectOk(await c.readTagged('i1'));

    const account = (await node.store.queries.accountByAddress('alice@example.com'))!;
    const inbox = (await node.store.queries.folderByName(account.id, 'INBOX'))!;
    const extras = await node.store.queries.messageExtras(account.id, inbox.id, 1 as never);
    assert.ok(extras?.summary && extras.summary.length > 0, 'delivery kept the MIME summary');

    const env = expectOk(await c.command('FETCH 1 (ENVELOPE BODY.PEEK[])')).untagged[0]!;
    assert.match(env, /"over smtp"/);
    const [m] = await node.store.queries.messages(account.id, inbox.id, 1);
    const blob = await readFile(join(dir, 'blobs', m!.blobId.slice(0, 2), m!.blobId.slice(2, 4), m!.blobId));
    assert.ok(env.includes(`{${blob.length}}\r\n${blob.toString('latin1')}`), 'BODY[] is the stored bytes');
    c.close();
  } finally {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
