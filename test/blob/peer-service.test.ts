// The blob services a node serves to its peers: ordered chunked copies, idle and bounded sessions,
// refusal of malformed or mismatching copies, ranged reads. Real BlobStore, MemoryPeerNetwork.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryPeerNetwork, PeerError } from '../../src/cluster/peer.ts';
import { nodeId } from '../../src/raft/index.ts';
import { BlobStore, blobIdOf, validateReplicationLimits } from '../../src/blob/index.ts';
import { BlobPeerService } from '../../src/blob/peer-service.ts';
import { scratchDirs } from '../helpers/temp-dirs.ts';
import { bodyOf } from './fixtures/blob-cluster.ts';

const tempDir = scratchDirs('stormo-blobsvc-');

async function served(limits = {}): Promise<{ local: BlobStore; svc: BlobPeerService; call: (service: string, body: unknown) => Promise<unknown> }> {
  const net = new MemoryPeerNetwork();
  const local = await BlobStore.open(await tempDir());
  const svc = new BlobPeerService(local, validateReplicationLimits({ blobTransferChunkBytes: 4096, ...limits }));
  svc.serveOn(net.endpoint(nodeId('server')));
  const client = net.endpoint(nodeId('client'));
  return { local, svc, call: (service, body) => client.request(nodeId('server'), service, body) };
}

function remoteCode(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof PeerError && e.code === 'REMOTE' && e.remoteCode === code;
}

test('a chunked copy is stored after commit; an out-of-order chunk drops the session', async () => {
  const { local, svc, call } = await served();
  const body = bodyOf(10_000, 1);
  const id = blobIdOf(body);
  const begin = (await call('blob.put-begin', { id, size: body.length })) as { status: string; uploadId: string };
  assert.equal(begin.status, 'upload');
  for (let off = 0; off < body.length; off += 4096) {
    await call('blob.put-chunk', { uploadId: begin.uploadId, offset: off, bytes: body.subarray(off, off + 4096) });
  }
  assert.equal(await local.has(id), false, 'nothing visible before commit');
  assert.deepEqual(await call('blob.put-commit', { uploadId: begin.uploadId }), { size: body.length });
  assert.equal(await local.has(id), true);
  assert.deepEqual(await call('blob.has', { ids: [id, blobIdOf(new Uint8Array(1))] }), { have: [true, false] });
  const range = (await call('blob.read', { id, offset: 5000, length: 100 })) as { size: number; bytes: Uint8Array };
  assert.equal(range.size, body.length);
  assert.ok(Buffer.from(range.bytes).equals(Buffer.from(body.subarray(5000, 5100))));

  const other = bodyOf(10_000, 2);
  const b2 = (await call('blob.put-begin', { id: blobIdOf(other), size: other.length })) as { uploadId: string };
  await assert.rejects(call('blob.put-chunk', { uploadId: b2.uploadId, offset: 4096, bytes: other.subarray(0, 4096) }), remoteCode('BLOB_UPLOAD'));
  await assert.rejects(call('blob.put-commit', { uploadId: b2.uploadId }), remoteCode('BLOB_UPLOAD'), 'the session is gone');
  assert.equal(svc.inboundUploads, 0);
  await sleep(20);
  assert.deepEqual(await local.list().next(), { value: id, done: false });
});

test('a copy whose bytes do not hash to the announced id is refused and leaves nothing', async () => {
  const { local, call } = await served();
  const body = bodyOf(3000, 3);
  const wrongId = blobIdOf(bodyOf(3000, 4));
  await assert.rejects(call('blob.put-begin', { id: wrongId, size: 3000, body }), remoteCode('BLOB_CHECKSUM'));
  const begin = (await call('blob.put-begin', { id: wrongId, size: 3000 })) as { uploadId: string };
  await call('blob.put-chunk', { uploadId: begin.uploadId, offset: 0, bytes: body });
  await assert.rejects(call('blob.put-commit', { uploadId: begin.uploadId }), remoteCode('BLOB_CHECKSUM'));
  assert.equal(await local.has(wrongId), false);
  assert.equal(await local.has(blobIdOf(body)), false);
});

test('idle copies are dropped, sessions are bounded, malformed requests get BLOB_PEER_INVALID', async () => {
  const { svc, call } = await served({ inboundUploadIdleMs: 50, inboundUploadsMax: 2 });
  const ids = [5, 6, 7].map((s) => blobIdOf(bodyOf(9000, s)));
  await call('blob.put-begin', { id: ids[0], size: 9000 });
  await call('blob.put-begin', { id: ids[1], size: 9000 });
  await assert.rejects(call('blob.put-begin', { id: ids[2], size: 9000 }), remoteCode('BLOB_BUSY'));
  await sleep(150);
  assert.equal(svc.inboundUploads, 0, 'both idle sessions were dropped');
  await call('blob.put-begin', { id: ids[2], size: 9000 });
  await assert.rejects(call('blob.put-begin', { id: 'x', size: 1 }), remoteCode('BLOB_INVALID_ID'));
  await assert.rejects(call('blob.put-begin', { id: ids[0], size: -1 }), remoteCode('BLOB_PEER_INVALID'));
  await assert.rejects(call('blob.has', { ids: 'nope' }), remoteCode('BLOB_PEER_INVALID'));
  await assert.rejects(call('blob.read', { id: ids[0], offset: 0, length: 1 << 30 }), remoteCode('BLOB_PEER_INVALID'));
  await assert.rejects(call('blob.read', { id: ids[0], offset: 0, length: 10 }), remoteCode('BLOB_NOT_FOUND'));
  svc.close();
  assert.equal(svc.inboundUploads, 0);
});
