// IMAP IDLE across nodes: a session idling on one node hears of a delivery made through another node's
// SMTP listener, and of a flag change made over IMAP on a third, within a bounded time (three processes).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ImapFlow } from 'imapflow';
import { ChaosCluster } from '../../chaos/cluster.ts';
import { RawSmtpClient } from '../node/fixtures/smtp-client.ts';
import { freePortRange } from '../helpers/ports.ts';

/** Election, replication and the change feed together stay well inside this on a loaded CI machine. */
const heardWithinMs = 5_000;

function client(port: number): ImapFlow {
  return new ImapFlow({ host: '127.0.0.1', port, secure: false, doSTARTTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'ann@idle.test', pass: 'idle-password-1' }, logger: false });
}

test('IDLE on n2 hears a delivery to n1 and a flag change made on n3', { timeout: 180_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-idle-'));
  const cluster = await ChaosCluster.start(dir, 3, await freePortRange(30));
  try {
    await cluster.waitAllReady();
    const [n1, n2, n3] = cluster.nodes as [typeof cluster.nodes[0], typeof cluster.nodes[0], typeof cluster.nodes[0]];
    assert.equal((await cluster.admin(n1, 'POST', '/v1/domains', { name: 'idle.test' })).status, 201);
    assert.equal((await cluster.admin(n1, 'POST', '/v1/users', { address: 'ann@idle.test', password: 'idle-password-1' })).status, 201);

    const watcher = client(cluster.endpoint(n2, 'imap').port);
    const events: { kind: string; at: number }[] = [];
    watcher.on('exists', () => events.push({ kind: 'exists', at: Date.now() }));
    watcher.on('flags', () => events.push({ kind: 'flags', at: Date.now() }));
    await watcher.connect();
    const lock = await watcher.getMailboxLock('INBOX');
    try {
      void watcher.idle();
      const sentAt = Date.now();
      const { client: smtp } = await RawSmtpClient.connect(cluster.endpoint(n1, 'smtp').port);
      await smtp.command('EHLO sender.example');
      const r = await smtp.send('bob@sender.example', ['ann@idle.test'], Buffer.from('Subject: across\r\n\r\nhello from n1\r\n'));
      await smtp.quit();
      assert.equal(r.reply.code, 250);
      const waitFor = async (kind: string, since: number): Promise<number> => {
        for (;;) {
          const e = events.find((x) => x.kind === kind && x.at >= since);
          if (e) return e.at - since;
          if (Date.now() - since > heardWithinMs) assert.fail(`no ${kind} on n2 within ${heardWithinMs} ms`);
          await new Promise((res) => setTimeout(res, 20));
        }
      };
      const existsMs = await waitFor('exists', sentAt);

      const other = client(cluster.endpoint(n3, 'imap').port);
      await other.connect();
      const flaggedAt = Date.now();
      try {
        const l2 = await other.getMailboxLock('INBOX');
        try {
          assert.ok(await other.messageFlagsAdd('1', ['\\Flagged']));
        } finally {
          l2.release();
        }
      } finally {
        await other.logout();
      }
      const flagsMs = await waitFor('flags', flaggedAt);
      console.log(`# n2 heard the delivery to n1 ${existsMs} ms after the 250 began, the flag set on n3 after ${flagsMs} ms`);
    } finally {
      lock.release();
      await watcher.logout().catch(() => watcher.close());
    }
  } finally {
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
