// JunkLearner against a real spamd: a message moved into Junk is learned as spam, moved out as ham (TELL, Bayes in a temp dir).
// The Bayes database's own counters (sa-learn --dump magic) prove the learning, not just spamd's reply.

import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createJunkLearner, FilterError, parseFilterConfig, type JunkLearner } from '../../src/filter/index.ts';
import { scratchDirs } from '../helpers/temp-dirs.ts';
import { missing, startSpamd, type Daemon } from './daemons.ts';
import { message } from './node.ts';

const skip = missing('spamd', 'sa-learn');
const tempDir = scratchDirs('stormo-washer-learn-');

/** nspam and nham from the Bayes database's magic tokens. */
async function bayesCounts(dir: string): Promise<{ nspam: number; nham: number }> {
  const { stdout } = await promisify(execFile)('sa-learn', ['--dbpath', join(dir, 'bayes', 'bayes'), '--dump', 'magic'], { timeout: 20_000 });
  const count = (name: string): number => Number(new RegExp(`(\\d+)\\s+0\\s+non-token data: ${name}`).exec(stdout)?.[1] ?? 'NaN');
  return { nspam: count('nspam'), nham: count('nham') };
}

describe('JunkLearner with spamd', { skip, timeout: 90_000 }, () => {
  let dir: string;
  let spamd: Daemon;
  let learner: JunkLearner;

  before(async () => {
    dir = await tempDir();
    spamd = await startSpamd(dir);
    const l = createJunkLearner(parseFilterConfig({ spam: { engine: 'spamd', spamd: { host: '127.0.0.1', port: spamd.port }, timeoutMs: 10_000 } }));
    assert.ok(l);
    learner = l;
  });

  after(async () => {
    await spamd?.stop();
  });

  test('into Junk: learned as spam once; out of Junk: relearned as ham', async () => {
    const m = message({ from: 'promo@shop.test', to: 'alice@example.test', subject: 'Limited offer', body: 'Buy cheap watches and pills now, click here for the discount of the year.' });
    const bytes = Buffer.from(m.text);
    const start = await bayesCounts(dir).catch(() => ({ nspam: 0, nham: 0 }));
    assert.equal(await learner.learn(bytes, 'spam'), true);
    assert.deepEqual(await bayesCounts(dir), { nspam: start.nspam + 1, nham: start.nham });
    assert.equal(await learner.learn(bytes, 'spam'), false, 'spamd already knew it');
    assert.equal(await learner.learn(bytes, 'ham'), true);
    assert.deepEqual(await bayesCounts(dir), { nspam: start.nspam, nham: start.nham + 1 });
  });

  test('spamd down: the learner rejects with a typed UNAVAILABLE error, quickly', async () => {
    await spamd.stop();
    const t0 = performance.now();
    await assert.rejects(learner.learn(Buffer.from('Subject: x\r\n\r\nx\r\n'), 'spam'), (e: unknown) => e instanceof FilterError && e.code === 'UNAVAILABLE');
    assert.ok(performance.now() - t0 < 2000);
  });
});
