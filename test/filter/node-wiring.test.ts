// The washer inside a real node (`stormo up` with a `filter` section): GTUBE over SMTP is refused with
// a tracking id, and a user moving a message into Junk over IMAP teaches spamd (its Bayes counters grow).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ImapFlow } from 'imapflow';
import { parseConfig } from '../../src/cli/config.ts';
import { type RunningNode, up } from '../../src/cli/up.ts';
import { RawSmtpClient } from '../node/fixtures/smtp-client.ts';
import { scratchDirs } from '../helpers/temp-dirs.ts';
import { type Daemon, missing, startSpamd } from './daemons.ts';

const skip = missing('spamd', 'sa-learn');
const tempDir = scratchDirs('stormo-washer-node-');
const port = (hostPort: string | undefined): number => Number(hostPort!.slice(hostPort!.lastIndexOf(':') + 1));
const gtube = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

async function nspam(dir: string): Promise<number> {
  const { stdout } = await promisify(execFile)('sa-learn', ['--dbpath', join(dir, 'bayes', 'bayes'), '--dump', 'magic'], { timeout: 20_000 }).catch(() => ({ stdout: '' }));
  return Number(/(\d+)\s+0\s+non-token data: nspam/.exec(stdout)?.[1] ?? 0);
}

async function smtpSend(p: number, to: string, text: string): Promise<{ code: number; line: string }> {
  const { client } = await RawSmtpClient.connect(p);
  try {
    await client.command('EHLO sender.example');
    const r = await client.send('someone@sender.example', [to], Buffer.from(text));
    return { code: r.reply.code, line: r.reply.lines.join(' ') };
  } finally {
    await client.quit();
  }
}

describe('the washer wired into a node', { skip, timeout: 120_000 }, () => {
  let dir: string;
  let spamd: Daemon;
  let node: RunningNode;

  before(async () => {
    dir = await tempDir();
    spamd = await startSpamd(dir);
    node = await up(
      parseConfig({
        dataDir: join(dir, 'node'),
        logLevel: 'warn',
        listen: { admin: 0, smtp: 0, submission: 0, submissions: 0, pop3: 0, pop3s: 0, imap: 0, imaps: 0 },
        filter: { spam: { engine: 'spamd', spamd: { host: '127.0.0.1', port: spamd.port }, timeoutMs: 15_000 }, client: { enabled: false }, auth: { enabled: false } },
      }),
    );
    const token = (await readFile(join(dir, 'node', 'admin.token'), 'utf8')).trim();
    const post = (path: string, body: unknown) =>
      fetch(`${node.endpoints.admin}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post('/v1/domains', { name: 'example.com' })).status, 201);
    assert.equal((await post('/v1/users', { address: 'alice@example.com', password: 'secret-pw' })).status, 201);
  });

  after(async () => {
    await node?.stop();
    await spamd?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('GTUBE is refused 554 with the tracking id; clean mail is stored', async () => {
    const refused = await smtpSend(port(node.endpoints.smtp), 'alice@example.com', `Subject: offer\r\n\r\n${gtube}\r\n`);
    assert.equal(refused.code, 554, refused.line);
    assert.match(refused.line, /\[[^\]]+\]/, 'the refusal names the message id');
    const clean = await smtpSend(port(node.endpoints.smtp), 'alice@example.com', 'Subject: lunch\r\nFrom: bob@sender.example\r\n\r\nLunch on Friday at noon? The usual place.\r\n');
    assert.equal(clean.code, 250, clean.line);
  });

  test('MOVE into Junk over IMAP teaches spamd', async () => {
    const before = await nspam(dir);
    const c = new ImapFlow({ host: '127.0.0.1', port: port(node.endpoints.imap), secure: false, doSTARTTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'alice@example.com', pass: 'secret-pw' }, logger: false });
    await c.connect();
    try {
      const lock = await c.getMailboxLock('INBOX');
      try {
        assert.ok(await c.messageMove('1:*', 'Junk'));
      } finally {
        lock.release();
      }
    } finally {
      await c.logout();
    }
    const deadline = Date.now() + 30_000;
    while ((await nspam(dir)) <= before && Date.now() < deadline) await sleep(300);
    assert.equal(await nspam(dir), before + 1, 'the Bayes database counts one more spam');
  });
});
