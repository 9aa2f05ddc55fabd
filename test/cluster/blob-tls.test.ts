// Replicated blobs over the real mutual-TLS transport on loopback: chunked copies of a large blob,
// the write quorum with a node down, read fallback and repair after the node returns empty.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unlink } from 'node:fs/promises';
import { type BlobId, BlobStore, ReplicatedBlobStore, blobIdOf, startBlobReplication } from '../../src/blob/index.ts';
import { type NodeId, nodeId } from '../../src/raft/index.ts';
import type { TlsTransport } from '../../src/cluster/tls-transport.ts';
import { scratchDirs } from '../helpers/temp-dirs.ts';
import { bodyOf } from '../blob/fixtures/blob-cluster.ts';
import { closeAll, makeCluster, startTransports } from './fixtures.ts';

const tempDir = scratchDirs('stormo-blobtls-');

test('replicated blobs over mutual TLS: 20 MiB chunked, quorum with a node down, fallback read, repair', { timeout: 60_000 }, async () => {
  const names = ['a', 'b', 'c'];
  const { identities } = await makeCluster(names);
  const transports = await startTransports(identities);
  const members: NodeId[] = names.map(nodeId);
  const nodes = new Map<string, { local: BlobStore; blobs: ReplicatedBlobStore }>();
  const open = async (name: string, rpc: TlsTransport): Promise<void> => {
    const local = await BlobStore.open(await tempDir());
    nodes.set(name, { local, blobs: new ReplicatedBlobStore({ local, rpc, members: () => members }) });
  };
  try {
    for (const n of names) await open(n, transports.get(n)!);
    const a = nodes.get('a')!;
    const big = bodyOf(20 * 1024 * 1024, 11);
    const { id: bigId } = await a.blobs.put(big);
    const small = bodyOf(10_000, 12);
    const { id: smallId } = await a.blobs.put(small);
    await a.blobs.drain();
    for (const [n, node] of nodes) {
      for (const id of [bigId, smallId]) assert.equal(await node.local.has(id), true, `${n} holds ${id.slice(0, 8)}`);
    }
    assert.equal(blobIdOf(await nodes.get('c')!.local.get(bigId)), bigId);

    // c goes down: puts still reach the quorum (a and b).
    await transports.get('c')!.close();
    const later: BlobId[] = [];
    for (let i = 0; i < 5; i++) later.push((await a.blobs.put(bodyOf(5000, 100 + i))).id);
    await a.blobs.drain();
    for (const id of later) assert.equal(await nodes.get('b')!.local.has(id), true);

    // a loses its copy of the big blob: read it from b over TLS, verified.
    await unlink(a.local.pathOf(bigId));
    assert.equal(blobIdOf(await a.blobs.get(bigId)), bigId);

    // c returns with an empty disk on a new port and pulls what it lacks.
    const [cT] = (await startTransports(new Map([['c', identities.get('c')!]]))).values();
    for (const [n, t] of transports) if (n !== 'c') t.setPeer('c', cT!.address());
    for (const [n, t] of transports) if (n !== 'c') cT!.setPeer(n, t.address());
    transports.set('c', cT!);
    // As the composition root assembles a node: the replicated store and its running repair loop.
    const all = [bigId, smallId, ...later].sort();
    const cLocal = await BlobStore.open(await tempDir());
    const cRepl = startBlobReplication({
      local: cLocal,
      rpc: cT!,
      members: () => members,
      referencedIds: async (after, limit) => all.filter((x) => x > after).slice(0, limit),
      repair: { repairPassIntervalMs: 20 },
    });
    nodes.set('c', { local: cLocal, blobs: cRepl.blobs });
    try {
      const deadline = Date.now() + 20_000;
      // Until c has pulled everything and a later pass sees every copy (a's read repair of the big blob may still be writing during the first).
      const done = (): boolean => cRepl.repairer.counters.repaired >= all.length && cRepl.missingCopies() === 0;
      while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(cRepl.repairer.counters.repaired, all.length);
      assert.equal(cRepl.missingCopies(), 0);
    } finally {
      await cRepl.stop();
    }
    for (const id of all) assert.equal(await cLocal.has(id), true);
    assert.equal(blobIdOf(await cLocal.get(bigId)), bigId);
  } finally {
    for (const n of nodes.values()) await n.blobs.close().catch(() => {});
    await closeAll(transports.values());
  }
});
