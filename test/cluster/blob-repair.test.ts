// The blob repair loop: restores copies after a node returns empty (by pull and by push), uses
// repair hints, paces its bytes, resumes from its cursor, and trims spare copies on non-targets.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { type BlobId, BlobRepairer, type RepairClock, fileRepairCursor } from '../../src/blob/index.ts';
import { nodeId } from '../../src/raft/index.ts';
import { type BlobCluster, blobCluster, bodyOf, holders } from '../blob/fixtures/blob-cluster.ts';

/** The store's blobIds query over a fixed set (ids greater than `after`, in order). */
function refsOf(ids: Iterable<BlobId>): (after: string, limit: number) => Promise<string[]> {
  const sorted = [...new Set(ids)].sort();
  return async (after, limit) => sorted.filter((id) => id > after).slice(0, limit);
}

async function putMany(c: BlobCluster, on: string, count: number, size: number, seed: number): Promise<BlobId[]> {
  const ids: BlobId[] = [];
  for (let i = 0; i < count; i++) ids.push((await c.node(on).blobs.put(bodyOf(size, seed + i))).id);
  await c.node(on).blobs.drain();
  return ids;
}

async function allHeldEverywhere(c: BlobCluster, ids: readonly BlobId[]): Promise<void> {
  for (const id of ids) assert.deepEqual(await holders(c, id), [...c.nodes.keys()].sort(), `blob ${id.slice(0, 8)} is back on every node`);
}

test('a node that returns empty pulls every blob it is a target of (one pass on it)', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const ids = [...(await putMany(c, 'a', 20, 2000, 100)), ...(await putMany(c, 'b', 1, 3 * 1024 * 1024, 900))];
  await c.stop('c');
  const cNode = await c.start('c', { empty: true });
  assert.equal((await holders(c, ids[0]!)).length, 2);
  const repairer = new BlobRepairer({ blobs: cNode.blobs, referencedIds: refsOf(ids) });
  assert.equal(repairer.missingCopies(), 0, 'nothing known before a pass');
  const r = await repairer.runPass();
  assert.equal(r.examined, ids.length);
  assert.equal(r.missingFound, ids.length, 'its own copy of each blob was missing');
  assert.equal(r.repaired, ids.length);
  assert.equal(r.wrapped, true);
  await allHeldEverywhere(c, ids);
  assert.equal(repairer.missingCopies(), 0);
  const again = await repairer.runPass();
  assert.equal(again.missingFound + again.repaired, 0, 'a second pass finds nothing to do');
});

test('the surviving nodes push missing copies to a replaced node; missingCopies() tracks it', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const ids = await putMany(c, 'a', 30, 1500, 200);
  await c.stop('c');
  const refs = refsOf(ids);
  const ra = new BlobRepairer({ blobs: c.node('a').blobs, referencedIds: refs });
  const rb = new BlobRepairer({ blobs: c.node('b').blobs, referencedIds: refs });
  const under = new Map<BlobId, number>();
  c.node('a').blobs.events.on('blobUnderReplicated', (id, copies) => under.set(id, copies));
  await ra.runPass();
  assert.equal(ra.missingCopies(), ids.length, 'while c is down each blob lacks one (unreachable) copy');
  assert.equal(under.size, ids.length);
  assert.ok([...under.values()].every((copies) => copies === 2), 'blobUnderReplicated reports 2 copies');
  await c.start('c', { empty: true });
  const pa = await ra.runPass();
  const pb = await rb.runPass();
  assert.equal(pa.missingFound, ids.length, 'a sees every copy missing on c');
  assert.equal(pa.repaired + pb.repaired, ids.length, 'each missing copy pushed exactly once (first holder pushes)');
  assert.ok(pa.repaired > 0 && pb.repaired > 0, 'both a and b lead some blobs');
  await allHeldEverywhere(c, ids);
  await ra.runPass();
  assert.equal(ra.missingCopies(), 0);
  assert.equal(ra.counters.repaired + rb.counters.repaired, ids.length);
});

test('a repair hint from a failed replica copy is repaired even before the blob is referenced', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  await c.stop('c');
  const { id } = await c.node('a').blobs.put(bodyOf(800, 300));
  await c.node('a').blobs.drain();
  assert.equal(c.node('a').blobs.hintCount, 1);
  await c.start('c', { empty: true });
  const ra = new BlobRepairer({ blobs: c.node('a').blobs, referencedIds: refsOf([]) });
  const r = await ra.runPass();
  assert.equal(r.repaired, 1);
  assert.equal(c.node('a').blobs.hintCount, 0);
  assert.deepEqual(await holders(c, id), ['a', 'b', 'c']);
});

test('repair is paced to repairBytesPerSecondMax and resumes from its cursor', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const ids = await putMany(c, 'a', 25, 10_000, 400);
  await c.stop('c');
  const cNode = await c.start('c', { empty: true });
  let nowMs = 1_000_000;
  const slept: number[] = [];
  const clock: RepairClock = {
    nowMs: () => nowMs,
    sleep: async (ms) => {
      slept.push(ms);
      nowMs += ms;
    },
  };
  const cursorFile = join(cNode.dir, 'repair-cursor');
  const limits = { repairBlobsPerPassMax: 10, repairBatchBlobs: 4, repairConcurrencyMax: 1, repairBytesPerSecondMax: 100_000 };
  const r1 = await new BlobRepairer({ blobs: cNode.blobs, referencedIds: refsOf(ids), limits, clock, cursor: fileRepairCursor(cursorFile) }).runPass();
  assert.deepEqual([r1.examined, r1.repaired, r1.wrapped], [10, 10, false]);
  // 10 copies of 10,000 bytes at 100,000 B/s: the 9 after the first wait 100 ms each (virtual time).
  assert.equal(slept.length, 9);
  assert.ok(slept.every((ms) => Math.abs(ms - 100) < 1e-6), `paced sleeps ${slept.join(',')}`);
  // A new repairer (as after a restart) continues after the last id examined.
  const second = new BlobRepairer({ blobs: cNode.blobs, referencedIds: refsOf(ids), limits, clock, cursor: fileRepairCursor(cursorFile) });
  const r2 = await second.runPass();
  const r3 = await second.runPass();
  assert.deepEqual([r2.examined, r2.repaired, r2.wrapped], [10, 10, false]);
  assert.deepEqual([r3.examined, r3.repaired, r3.wrapped], [5, 5, true]);
  await allHeldEverywhere(c, ids);
});

test('with 5 nodes a put on a non-target leaves a spare copy that repair trims after the grace period', async () => {
  const c = await blobCluster(['n1', 'n2', 'n3', 'n4', 'n5']);
  // A body for which n1 is not a placement target.
  let seed = 500;
  while (c.node('n1').blobs.targetsOf((await import('../../src/blob/index.ts')).blobIdOf(bodyOf(700, seed))).includes(nodeId('n1'))) seed++;
  const { id } = await c.node('n1').blobs.put(bodyOf(700, seed));
  await c.node('n1').blobs.drain();
  const targets = c.node('n1').blobs.targetsOf(id);
  assert.deepEqual(await holders(c, id), [nodeId('n1'), ...targets].sort(), 'three targets plus the spare on n1');
  let nowMs = Date.now();
  const clock: RepairClock = { nowMs: () => nowMs, sleep: async () => {} };
  const repairer = new BlobRepairer({ blobs: c.node('n1').blobs, referencedIds: refsOf([id]), clock });
  assert.equal((await repairer.runPass()).sparesTrimmed, 0, 'younger than the grace period: kept');
  c.node('n1').blobs.pin(id);
  nowMs += 2 * 60 * 60 * 1000;
  assert.equal((await repairer.runPass()).sparesTrimmed, 0, 'pinned: kept');
  c.node('n1').blobs.unpin(id);
  assert.equal((await repairer.runPass()).sparesTrimmed, 1);
  assert.deepEqual(await holders(c, id), [...targets].sort());
  // Reads on the non-target still work from the targets.
  assert.equal((await c.node('n1').blobs.get(id)).length, 700);
});

test('the repair loop runs passes until stopped', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const ids = await putMany(c, 'a', 5, 1000, 600);
  await c.stop('c');
  const cNode = await c.start('c', { empty: true });
  const repairer = new BlobRepairer({ blobs: cNode.blobs, referencedIds: refsOf(ids), limits: { repairPassIntervalMs: 10 } });
  repairer.start();
  const deadline = Date.now() + 5000;
  while (repairer.counters.repaired < ids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  await repairer.stop();
  assert.equal(repairer.counters.repaired, ids.length);
  assert.ok(repairer.counters.passes >= 1);
  await allHeldEverywhere(c, ids);
});
