// Garbage collection keeps referenced, pinned and young blobs and deletes the rest.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobStore, collectGarbage, type BlobId } from '../../src/blob/index.ts';

test('a sweep deletes only unreferenced, unpinned blobs older than the grace period', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-gc-'));
  try {
    const blobs = await BlobStore.open(dir);
    const put = async (s: string): Promise<BlobId> => (await blobs.put(new TextEncoder().encode(s))).id;
    const [referenced, pinned, orphan, young] = [await put('referenced'), await put('pinned'), await put('orphan'), await put('young')];
    blobs.pin(pinned);
    const refs = new Set<BlobId>([referenced]);
    // Age every file but `young` by two hours on disk.
    const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60 * 1000);
    for (const id of [referenced, pinned, orphan]) await utimes(blobs.pathOf(id), twoHoursAgo, twoHoursAgo);
    const gc = { isReferenced: async (id: BlobId) => refs.has(id), nowMs: () => Date.now(), graceMs: 60 * 60 * 1000 };
    const r = await collectGarbage(blobs, gc);
    assert.equal(r.deleted, 1);
    assert.equal(await blobs.has(orphan), false);
    for (const kept of [referenced, pinned, young]) assert.equal(await blobs.has(kept), true);
    blobs.unpin(pinned);
    await utimes(blobs.pathOf(young), twoHoursAgo, twoHoursAgo);
    const again = await collectGarbage(blobs, gc);
    assert.equal(again.deleted, 2, 'pinned and young (now old) go once unpinned');
    assert.equal(await blobs.has(referenced), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('delete keeps a blob written again after the collector looked', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-gc-'));
  try {
    const blobs = await BlobStore.open(dir);
    const { id } = await blobs.put(new TextEncoder().encode('body'));
    const seen = (await blobs.stat(id)).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await blobs.put(new TextEncoder().encode('body')); // the same body delivered again
    assert.equal(await blobs.delete(id, { unlessWrittenAfterMs: seen }), false);
    assert.equal(await blobs.has(id), true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
