// Scanners down, hung, or killed in the middle of a scan: fail-open delivers marked unscanned, fail-closed answers 451 4.7.1.
// Nothing is lost (a refused message is delivered on retry once the scanner is back) and no SMTP session waits unbounded.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { scratchDirs } from '../helpers/temp-dirs.ts';
import { missing, startClamd, startDnsmasq, startSpamd, type Daemon } from './daemons.ts';
import { dkimKey, message, replyLine, signed, startWasherNode, testZone, unfold, type WasherNode } from './node.ts';

const skip = missing('spamd', 'clamd', 'dnsmasq');
const tempDir = scratchDirs('stormo-washer-fail-');
/** Each scanner's timeout: a hung scanner costs the session this long, then the fail mode decides. */
const scannerTimeoutMs = 2000;

describe('fail-open and fail-closed', { skip, timeout: 120_000 }, () => {
  const daemons: Daemon[] = [];
  let dir: string;
  let spamd: Daemon;
  let clamd: Daemon;
  let node: WasherNode;
  let key: { privateKey: string; record: string };

  before(async () => {
    key = dkimKey();
    dir = await tempDir();
    const dns = await startDnsmasq(`${dir}/dns`, testZone(key.record));
    [spamd, clamd] = await Promise.all([startSpamd(`${dir}/spamd`), startClamd(`${dir}/clamd`)]);
    daemons.push(dns);
    node = await startWasherNode(`${dir}/node`, {
      filter: {
        dnsServers: [`127.0.0.1:${dns.port}`],
        dataDeadlineMs: 10_000,
        spam: { engine: 'spamd', spamd: { host: '127.0.0.1', port: spamd.port }, timeoutMs: scannerTimeoutMs, failMode: 'open' },
        antivirus: { engine: 'clamd', clamd: { host: '127.0.0.1', port: clamd.port }, timeoutMs: scannerTimeoutMs, failMode: 'open' },
      },
      domains: { 'open.test': undefined, 'closed.test': { failMode: 'closed' } },
      users: { 'olga@open.test': undefined, 'carl@closed.test': undefined },
    });
  });

  after(async () => {
    await node?.stop();
    await Promise.all([...daemons, spamd, clamd].map((d) => d?.stop()));
  });

  async function send(to: string, subject: string): Promise<{ token: string; line: string; code: number; ms: number }> {
    const m = message({ from: 'ann@sender.test', to, subject, body: 'A plain note.' });
    const t0 = performance.now();
    const r = await node.send('ann@sender.test', [to], await signed(m.text, key.privateKey));
    return { token: m.token, line: replyLine(r.reply), code: r.reply.code, ms: performance.now() - t0 };
  }

  test('spamd killed: fail-open delivers marked unscanned, fail-closed gives 451 4.7.1, and the retry is delivered', async () => {
    spamd.kill();
    await spamd.stop();
    const open = await send('olga@open.test', 'while spamd is down');
    assert.equal(open.code, 250, open.line);
    const [landed] = await node.landed('olga@open.test', open.token);
    assert.equal(landed?.folder, 'INBOX');
    assert.match(unfold(landed.body), /^X-Stormo-Unscanned: spam \(spamd\) \(scanner unavailable, delivered by fail-open policy\)\r$/m);
    assert.deepEqual(landed.filter?.['unscanned'], ['spam (spamd)']);
    assert.equal((landed.filter?.['spam'] as { status: string }).status, 'unscanned');

    const closed = await send('carl@closed.test', 'while spamd is down');
    assert.match(closed.line, /^451 4\.7\.1 Message could not be scanned, try again later \[[0-9a-v]{16}\]$/);
    assert.deepEqual(await node.landed('carl@closed.test', closed.token), []);

    spamd = await startSpamd(`${dir}/spamd`, { port: spamd.port });
    const retry = await send('carl@closed.test', 'the retry');
    assert.equal(retry.code, 250, retry.line);
    assert.equal((await node.landed('carl@closed.test', retry.token))[0]?.folder, 'INBOX');
  });

  test('spamd hung (SIGSTOP): the session waits only the scanner timeout, then the fail mode decides', async () => {
    spamd.signal('SIGSTOP');
    try {
      const [open, closed] = await Promise.all([send('olga@open.test', 'spamd hung'), send('carl@closed.test', 'spamd hung')]);
      assert.equal(open.code, 250, open.line);
      assert.match(closed.line, /^451 4\.7\.1 /);
      for (const r of [open, closed]) assert.ok(r.ms < scannerTimeoutMs + 3000, `answered in ${Math.round(r.ms)} ms`);
      assert.ok(closed.ms >= scannerTimeoutMs - 100, `waited the scanner timeout (${Math.round(closed.ms)} ms)`);
      assert.equal((await node.landed('olga@open.test', open.token))[0]?.folder, 'INBOX');
    } finally {
      spamd.signal('SIGCONT');
    }
  });

  test('spamd killed in the middle of a scan: answered at once, by the fail mode', async () => {
    spamd.signal('SIGSTOP'); // the scan below connects and waits inside spamd...
    const pending = send('carl@closed.test', 'killed mid-scan');
    await new Promise((r) => setTimeout(r, 500));
    spamd.kill(); // ...which dies under it
    const closed = await pending;
    assert.match(closed.line, /^451 4\.7\.1 /);
    assert.ok(closed.ms < scannerTimeoutMs + 1000, `answered in ${Math.round(closed.ms)} ms`);
    await spamd.stop();
    spamd = await startSpamd(`${dir}/spamd`, { port: spamd.port });
  });

  test('clamd down: fail-open delivers marked unscanned, fail-closed refuses for now', async () => {
    await clamd.stop();
    const open = await send('olga@open.test', 'clamd down');
    assert.equal(open.code, 250, open.line);
    const [landed] = await node.landed('olga@open.test', open.token);
    assert.match(landed?.body ?? '', /^X-Virus-Scanned: unscanned \(clamd unavailable\)\r$/m);
    const closed = await send('carl@closed.test', 'clamd down');
    assert.match(closed.line, /^451 4\.7\.1 Message could not be scanned for viruses, try again later \[[0-9a-v]{16}\]$/);
    clamd = await startClamd(`${dir}/clamd`, { port: clamd.port });
    const retry = await send('carl@closed.test', 'clamd back');
    assert.equal(retry.code, 250, retry.line);
    assert.match((await node.landed('carl@closed.test', retry.token))[0]?.body ?? '', /^X-Virus-Scanned: clamd; clean\r$/m);
  });
});
