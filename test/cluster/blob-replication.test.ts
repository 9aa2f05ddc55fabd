// N-way replicated blobs over MemoryPeerNetwork with three real BlobStores in temp dirs: copies,
// write quorum with a replica down, read fallback on missing and corrupt copies, chunked large blobs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { unlink } from 'node:fs/promises';
import { type BlobId, blobIdOf, isBlobError } from '../../src/blob/index.ts';
import { nodeId } from '../../src/raft/index.ts';
import { PeerError } from '../../src/cluster/peer.ts';
import { ageCopy, blobCluster, bodyOf, corruptCopy, holders } from '../blob/fixtures/blob-cluster.ts';

/** Byte equality whatever the Uint8Array subclass (a local read gives a Buffer). */
function sameBytes(actual: Uint8Array, expected: Uint8Array, msg?: string): void {
  assert.ok(Buffer.from(actual).equals(Buffer.from(expected)), msg ?? `bytes differ (${actual.length} vs ${expected.length})`);
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

test('a put reaches N = 3 fsynced copies, a quorum of them before it resolves', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const body = bodyOf(10_000, 1);
  const { id, size, existed } = await c.node('a').blobs.put(body);
  assert.equal(size, 10_000);
  assert.equal(existed, false);
  assert.ok((await holders(c, id)).length >= 2, 'a write quorum (2 of 3) holds it when put resolves');
  await c.node('a').blobs.drain();
  assert.deepEqual(await holders(c, id), ['a', 'b', 'c']);
  for (const n of c.nodes.values()) sameBytes(await n.local.get(id), body, `${n.id}'s copy is byte for byte the body`);
  assert.equal(c.node('a').local.pinnedCount, 0, 'the replication pin is released once every copy settled');
  assert.equal(c.node('a').blobs.hintCount, 0);
});

test('with one replica down the put is acknowledged by the quorum and a repair hint is recorded', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  await c.stop('c');
  const under: [BlobId, number][] = [];
  c.node('a').blobs.events.on('blobUnderReplicated', (id, copies) => under.push([id, copies]));
  const { id } = await c.node('a').blobs.put(bodyOf(5000, 2), { pin: true });
  await c.node('a').blobs.drain();
  assert.deepEqual(await holders(c, id), ['a', 'b']);
  assert.deepEqual(under, [[id, 2]], 'blobUnderReplicated(blobId, copies) fired once');
  assert.equal(c.node('a').blobs.hintCount, 1);
  assert.equal(c.node('a').local.isPinned(id), true, "the caller's pin stays until its unpin");
  c.node('a').blobs.unpin(id);
  assert.equal(c.node('a').local.pinnedCount, 0);
});

test('with two of three replicas down the put fails with BLOB_QUORUM and releases its pins', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  await c.stop('b');
  await c.stop('c');
  await assert.rejects(c.node('a').blobs.put(bodyOf(5000, 3), { pin: true }), (e: unknown) => isBlobError(e, 'BLOB_QUORUM'));
  await c.node('a').blobs.drain();
  assert.equal(c.node('a').local.pinnedCount, 0, 'no pin leaks from a failed put');
  assert.equal(c.node('a').blobs.counters.putsQuorumFailed, 1);
});

test('a replica that already holds the body answers "have" and restarts its GC grace period', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const body = bodyOf(3 * 1024 * 1024, 4); // over one transfer chunk: the begin/chunk/commit path
  const { id } = await c.node('a').blobs.put(body);
  await c.node('a').blobs.drain();
  for (const n of c.nodes.values()) await ageCopy(n, id, 2 * 60 * 60 * 1000);
  const chunksBefore = c.requests.get('blob.put-chunk') ?? 0;
  const again = await c.node('a').blobs.put(body);
  await c.node('a').blobs.drain();
  assert.equal(again.existed, true);
  assert.equal(c.requests.get('blob.put-chunk') ?? 0, chunksBefore, 'no bytes sent: the replicas had it');
  for (const n of c.nodes.values()) {
    const ageMs = Date.now() - (await n.local.stat(id)).mtimeMs;
    assert.ok(ageMs < 60_000, `${n.id}'s copy counts as freshly written (age ${ageMs} ms)`);
  }
});

test('get falls back to another replica when the local copy is missing, and keeps the fetched copy', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const body = bodyOf(20_000, 5);
  const { id } = await c.node('a').blobs.put(body);
  await c.node('a').blobs.drain();
  const a = c.node('a');
  const [first] = a.blobs.peersFor(id);
  await unlink(a.local.pathOf(id));
  await unlink(c.node(first!).local.pathOf(id));
  sameBytes(await a.blobs.get(id), body, 'read from the second peer after the first had none');
  assert.ok(a.blobs.counters.remoteReadFallbacks >= 1);
  await a.blobs.drain();
  assert.equal(await a.local.has(id), true, 'read repair: a target keeps the copy it fetched');
});

test('get and stream skip a replica whose copy is corrupt (a flipped byte), which quarantines it', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const body = bodyOf(50_000, 6);
  const { id } = await c.node('a').blobs.put(body);
  await c.node('a').blobs.drain();
  const a = c.node('a');
  const [first, second] = a.blobs.peersFor(id).map((p) => c.node(p));
  await unlink(a.local.pathOf(id));
  await corruptCopy(first!, id, 1234);
  sameBytes(await a.blobs.get(id), body);
  assert.equal(await first!.local.has(id), false, 'the corrupt copy was quarantined where it lay');
  // stream(): no local copy, first peer corrupt again (re-copied then flipped), must still give the body.
  await a.blobs.drain();
  await unlink(a.local.pathOf(id));
  await first!.local.put(body);
  await corruptCopy(first!, id, 7);
  sameBytes(await collect(a.blobs.stream(id)), Buffer.from(body));
  sameBytes(await collect(a.blobs.stream(id, { start: 100, end: 200 })), Buffer.from(body.subarray(100, 200)));
  assert.equal(await second!.local.has(id), true);
});

test('a local copy corrupted on disk is quarantined on read and served from a replica', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const body = bodyOf(4096, 7);
  const { id } = await c.node('b').blobs.put(body);
  await c.node('b').blobs.drain();
  await corruptCopy(c.node('a'), id, 10);
  sameBytes(await c.node('a').blobs.get(id), body);
  await c.node('a').blobs.drain();
  sameBytes(await c.node('a').local.get(id), body, 'the good copy replaced the quarantined one');
});

test('a 20 MiB blob travels in bounded chunks and streams from a peer with failover at the same offset', async () => {
  const chunkBytes = 1024 * 1024;
  const c = await blobCluster(['a', 'b', 'c'], { blobTransferChunkBytes: chunkBytes, remoteVerifiedStreamBytesMax: 1024 * 1024 });
  const body = bodyOf(20 * 1024 * 1024, 8);
  const { id, size } = await c.node('a').blobs.put(body);
  assert.equal(size, body.length);
  await c.node('a').blobs.drain();
  assert.deepEqual(await holders(c, id), ['a', 'b', 'c']);
  assert.equal(c.requests.get('blob.put-chunk'), 2 * 20, '20 chunks of 1 MiB to each of the two replicas');
  assert.equal(c.requests.get('blob.put-commit'), 2);
  for (const n of c.nodes.values()) assert.equal(blobIdOf(await n.local.get(id)), id);
  // Read from b without its copy: streamed from peers, verified at the end.
  const b = c.node('b');
  await unlink(b.local.pathOf(id));
  const firstPeer = b.blobs.peersFor(id)[0]!;
  let chunks = 0;
  const parts: Uint8Array[] = [];
  for await (const chunk of b.blobs.stream(id)) {
    parts.push(chunk);
    if (++chunks === 3) c.net.setLink(b.id, nodeId(firstPeer), false); // the first peer vanishes mid-stream
  }
  c.net.setLink(b.id, nodeId(firstPeer), true);
  assert.equal(blobIdOf(Buffer.concat(parts)), id, 'the stream continued from the other peer at the same offset');
});

test('reads fail clearly when no node holds the blob', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const id = blobIdOf(new TextEncoder().encode('never stored'));
  await assert.rejects(c.node('a').blobs.get(id), (e: unknown) => isBlobError(e, 'BLOB_NOT_FOUND'));
  assert.equal(await c.node('a').blobs.has(id), false);
  await assert.rejects(c.node('a').blobs.get('../../etc/passwd'), (e: unknown) => isBlobError(e, 'BLOB_INVALID_ID'));
});

test('on a node that is not a target, only target copies count toward the quorum', async () => {
  const c = await blobCluster(['n1', 'n2', 'n3', 'n4', 'n5']);
  const n1 = c.node('n1');
  let seed = 1000;
  while (n1.blobs.targetsOf(blobIdOf(bodyOf(500, seed))).includes(nodeId('n1'))) seed++;
  const body = bodyOf(500, seed);
  const targets = n1.blobs.targetsOf(blobIdOf(body));
  await c.stop(targets[0]!);
  await c.stop(targets[1]!);
  await assert.rejects(n1.blobs.put(body), (e: unknown) => isBlobError(e, 'BLOB_QUORUM'), 'the local spare and one target are not 2 of 3 targets');
  await c.start(targets[1]!);
  const { id } = await n1.blobs.put(body);
  await n1.blobs.drain();
  assert.deepEqual(await holders(c, id), [nodeId('n1'), targets[1]!, targets[2]!].sort());
});

test('a corrupt local copy fails its stream at the end (quarantined); the next stream reads a replica', async () => {
  const c = await blobCluster(['a', 'b', 'c']);
  const body = bodyOf(100_000, 9);
  const { id } = await c.node('a').blobs.put(body);
  await c.node('a').blobs.drain();
  await corruptCopy(c.node('a'), id, 99_999);
  await assert.rejects(collect(c.node('a').blobs.stream(id)), (e: unknown) => isBlobError(e, 'BLOB_CHECKSUM'));
  assert.equal(c.node('a').blobs.hintCount, 1, 'the quarantined copy became a repair hint');
  sameBytes(await collect(c.node('a').blobs.stream(id)), body);
});

test('put takes streamed sources, small and large, and refuses bad ones before anything is replicated', async () => {
  const c = await blobCluster(['a', 'b', 'c'], { blobTransferChunkBytes: 64 * 1024 });
  const a = c.node('a').blobs;
  async function* chunks(body: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
    for (let off = 0; off < body.length; off += size) yield body.subarray(off, off + size);
  }
  for (const size of [0, 1000, 64 * 1024, 64 * 1024 + 1, 300_000]) {
    const body = bodyOf(size, 20 + size);
    const { id } = await a.put(chunks(body, 7000));
    await a.drain();
    assert.equal(id, blobIdOf(body));
    assert.deepEqual(await holders(c, id), ['a', 'b', 'c'], `a ${size}-byte streamed body reached every node`);
  }
  const big = bodyOf(100_000, 40);
  await assert.rejects(a.put(big, { sizeMax: 99_999 }), (e: unknown) => isBlobError(e, 'BLOB_TOO_LARGE'));
  await assert.rejects(a.put(chunks(big, 5000), { sizeMax: 50_000 }), (e: unknown) => isBlobError(e, 'BLOB_TOO_LARGE'));
  await assert.rejects(a.put(bodyOf(10, 41), { expectedId: blobIdOf(bodyOf(10, 42)) }), (e: unknown) => isBlobError(e, 'BLOB_CHECKSUM'));
  const boom = new Error('client went away');
  async function* failing(): AsyncGenerator<Uint8Array> {
    yield bodyOf(1000, 43);
    throw boom;
  }
  await assert.rejects(a.put(failing()), (e: unknown) => e === boom, "the source's own error comes back unchanged");
  await a.drain();
  assert.equal(await holders(c, blobIdOf(big)).then((h) => h.length), 0, 'nothing of a refused body was replicated');
  assert.equal(c.node('a').local.pinnedCount, 0);
});

test('a copy that times out mid-way restarts from byte 0 and completes', async () => {
  const c = await blobCluster(['a', 'b', 'c'], { blobTransferChunkBytes: 64 * 1024 });
  let chunksToB = 0;
  c.fault = (_from, to, service) => {
    if (to === nodeId('b') && service === 'blob.put-chunk' && ++chunksToB === 3) return new PeerError('TIMEOUT', 'injected: chunk lost');
    return undefined;
  };
  const body = bodyOf(500_000, 50);
  const { id } = await c.node('a').blobs.put(body);
  await c.node('a').blobs.drain();
  assert.deepEqual(await holders(c, id), ['a', 'b', 'c']);
  assert.equal(c.requests.get('blob.put-begin'), 3, 'one begin for c, two for b (the restart)');
  assert.equal(c.node('a').blobs.counters.replicaCopiesFailed, 0);
  sameBytes(await c.node('b').local.get(id), body);
  // The abandoned session on b was aborted by the sender, not left to idle out.
  assert.equal(c.requests.get('blob.put-abort'), 1);
});
