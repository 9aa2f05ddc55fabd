// GC across nodes: each node collects its own copies with zero references, unpinned and older than
// the grace period; a message in flight (blob written, metadata not yet committed) keeps every copy.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type BlobId, collectGarbage } from '../../src/blob/index.ts';
import { ageCopy, type BlobCluster, blobCluster, bodyOf, holders } from '../blob/fixtures/blob-cluster.ts';

const hourMs = 60 * 60 * 1000;

/** One GC sweep on every node, as each node's timer runs it, against the (replicated) refcounts. */
async function gcEverywhere(c: BlobCluster, refs: ReadonlySet<BlobId>, nowMs: number): Promise<number> {
  let deleted = 0;
  for (const n of c.nodes.values()) {
    const r = await collectGarbage(n.local, { isReferenced: async (id) => refs.has(id), nowMs: () => nowMs, graceMs: hourMs });
    deleted += r.deleted;
  }
  return deleted;
}

test('a blob in flight keeps every copy; once committed it stays; once unreferenced and old every copy goes', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const refs = new Set<BlobId>();
  // SMTP DATA: the body is put (pinned on the receiving node) before the append is proposed.
  const { id } = await c.node('a').blobs.put(bodyOf(9000, 1), { pin: true });
  await c.node('a').blobs.drain();
  // Another node's GC runs while the append is not committed yet: refs are 0 everywhere, but the
  // replicas' copies were written by this put, so they are inside the grace period.
  assert.equal(await gcEverywhere(c, refs, Date.now() + 30 * 60 * 1000), 0);
  assert.deepEqual(await holders(c, id), ['a', 'b', 'c']);
  // The receiving node's copy is pinned: kept even past the grace period (a stuck transaction).
  assert.equal(await gcEverywhere(c, refs, Date.now() + 2 * hourMs), 2, 'replicas rely on the grace period, not on pins');
  assert.deepEqual(await holders(c, id), ['a']);
  c.node('a').blobs.unpin(id);
});

test('committed blobs are never collected; expunged ones are collected on every node after the grace', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const refs = new Set<BlobId>();
  const { id: kept } = await c.node('a').blobs.put(bodyOf(4000, 2), { pin: true });
  const { id: expunged } = await c.node('b').blobs.put(bodyOf(4000, 3), { pin: true });
  refs.add(kept).add(expunged); // the appends commit (Raft: every node sees refs > 0)
  c.node('a').blobs.unpin(kept);
  c.node('b').blobs.unpin(expunged);
  await c.node('a').blobs.drain();
  await c.node('b').blobs.drain();
  for (const n of c.nodes.values()) for (const id of [kept, expunged]) await ageCopy(n, id, 3 * hourMs);
  assert.equal(await gcEverywhere(c, refs, Date.now()), 0, 'referenced: kept however old');
  refs.delete(expunged); // the message is expunged: refs drop to 0 everywhere
  assert.equal(await gcEverywhere(c, refs, Date.now()), 3, 'one copy collected on each node');
  assert.deepEqual(await holders(c, expunged), []);
  assert.deepEqual(await holders(c, kept), ['a', 'b', 'c']);
});

test('a body delivered again while its old unreferenced copies await GC is protected on every replica', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const body = bodyOf(6000, 4);
  const { id } = await c.node('a').blobs.put(body);
  await c.node('a').blobs.drain();
  for (const n of c.nodes.values()) await ageCopy(n, id, 3 * hourMs); // unreferenced leftovers, past the grace
  // The same body arrives again, at another node; replicas answer "have" and restart the grace.
  await c.node('c').blobs.put(body, { pin: true });
  await c.node('c').blobs.drain();
  assert.equal(await gcEverywhere(c, new Set(), Date.now()), 0, 'every copy counts as freshly written');
  assert.deepEqual(await holders(c, id), ['a', 'b', 'c']);
  c.node('c').blobs.unpin(id);
});

test('touch after a collector looked makes its delete a no-op (checked under the blob lock)', async () => {
  const c = await blobCluster(['a']);
  const a = c.node('a');
  const { id } = await a.local.put(bodyOf(100, 5));
  await ageCopy(a, id, 2 * hourMs);
  const seen = (await a.local.stat(id)).mtimeMs;
  assert.equal(await a.local.touch(id), true);
  assert.equal(await a.local.delete(id, { unlessWrittenAfterMs: seen }), false);
  assert.equal(await a.local.has(id), true);
  assert.equal(await a.local.touch('0'.repeat(64)), false, 'touching an absent blob reports false');
});
