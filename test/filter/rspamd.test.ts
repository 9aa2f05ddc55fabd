// The washer with rspamd as its engine: GTUBE refused, clean mail to INBOX, and Junk learning through the controller.
// A real rspamd from a private config on loopback (no redis: Bayes in sqlite3), its DNS pointed at a test dnsmasq.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createJunkLearner, parseFilterConfig } from '../../src/filter/index.ts';
import { scratchDirs } from '../helpers/temp-dirs.ts';
import { missing, startDnsmasq, startRspamd, type Daemon, type RspamdDaemon } from './daemons.ts';
import { dkimKey, message, replyLine, signed, startWasherNode, testZone, unfold, type WasherNode } from './node.ts';

const skip = missing('rspamd', 'dnsmasq');
const tempDir = scratchDirs('stormo-washer-rspamd-');
const gtube = 'XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X';

describe('washer with rspamd', { skip, timeout: 120_000 }, () => {
  let dns: Daemon;
  let rspamd: RspamdDaemon;
  let node: WasherNode;
  let key: { privateKey: string; record: string };
  let filter: Record<string, unknown>;

  before(async () => {
    key = dkimKey();
    const dir = await tempDir();
    dns = await startDnsmasq(`${dir}/dns`, testZone(key.record));
    rspamd = await startRspamd(`${dir}/rspamd`, { dnsPort: dns.port });
    console.log(`# startup: rspamd ${rspamd.startupMs} ms (the first start on a machine compiles hyperscan databases)`);
    filter = {
      dnsServers: [`127.0.0.1:${dns.port}`],
      spam: { engine: 'rspamd', rspamd: { host: '127.0.0.1', port: rspamd.port, controllerPort: rspamd.controllerPort, password: rspamd.password }, timeoutMs: 8000 },
    };
    node = await startWasherNode(`${dir}/node`, { filter, domains: { 'example.test': undefined }, users: { 'alice@example.test': undefined } });
  });

  after(async () => {
    await node?.stop();
    await rspamd?.stop();
    await dns?.stop();
  });

  test('GTUBE is refused with 554 5.7.1 and a tracking id', async () => {
    const m = message({ from: 'x@sender.test', to: 'alice@example.test', subject: 'gtube', body: gtube });
    const r = await node.send('x@sender.test', ['alice@example.test'], m.text);
    assert.match(replyLine(r.reply), /^554 5\.7\.1 Message refused as spam \(score [\d.]+\) \[[0-9a-v]{16}\]$/);
    assert.deepEqual(await node.landed('alice@example.test', m.token), []);
  });

  test('clean signed mail lands in INBOX, scored by rspamd', async () => {
    const m = message({ from: 'ann@sender.test', to: 'alice@example.test', subject: 'Minutes of the meeting', body: 'Here are the minutes from Tuesday.\r\nAnn' });
    const r = await node.send('ann@sender.test', ['alice@example.test'], await signed(m.text, key.privateKey));
    assert.equal(r.reply.code, 250, replyLine(r.reply));
    const [landed] = await node.landed('alice@example.test', m.token);
    assert.equal(landed?.folder, 'INBOX');
    assert.match(unfold(landed.body), /^X-Spam-Status: No, score=[-\d.]+ required=5\.0 tests=[^\r]* engine=rspamd\r$/m);
    assert.equal((landed.filter?.['spam'] as { engine: string; status: string }).status, 'scanned');
  });

  test('JunkLearner teaches rspamd: learned once, then "already learned", then relearned as ham', async () => {
    const learner = createJunkLearner(parseFilterConfig(filter));
    assert.ok(learner);
    const words = 'cheap pills casino lottery winner money transfer urgent offer free click bonus discount pharmacy'.split(' ');
    const body = Array.from({ length: 120 }, (_, i) => words[(i * 7) % words.length]).join(' ');
    const m = message({ from: 'spammer@spam.test', to: 'alice@example.test', subject: 'offer', body });
    const before = await learnedCount(rspamd);
    assert.equal(await learner.learn(Buffer.from(m.text), 'spam'), true);
    assert.equal(await learnedCount(rspamd), before + 1);
    assert.equal(await learner.learn(Buffer.from(m.text), 'spam'), false);
    // Moved out of Junk: relearned as ham.
    assert.equal(await learner.learn(Buffer.from(m.text), 'ham'), true);
  });
});

/** rspamd's own count of learned messages (controller /stat). */
async function learnedCount(r: RspamdDaemon): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${r.controllerPort}/stat`, { headers: { Password: r.password } });
  const stat = (await res.json()) as { learned?: number };
  return stat.learned ?? 0;
}
