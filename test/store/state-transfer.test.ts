// State transfer (G6) without Raft: images served in bounded chunks over PeerRpc, verified by digest, swapped in
// whole; a tampered or lagging source is skipped; a crash in the middle of a swap leaves one complete folder.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryPeerNetwork } from '../../src/cluster/peer.ts';
import { type AppliedCommand, index, nodeId, term } from '../../src/raft/index.ts';
import { type Command, encodeCommand } from '../../src/store/commands.ts';
import { recoverSwap, swapPaths } from '../../src/store/fs-sync.ts';
import { StoreMachine } from '../../src/store/machine.ts';
import { replicationLimits } from '../../src/store/replication-limits.ts';
import { snapshotService } from '../../src/store/state-transfer.ts';
import { type AccountId, type CommandInput, StoreError } from '../../src/store/index.ts';
import { scratchDirs } from '../helpers/temp-dirs.ts';

const newDir = scratchDirs('stormo-transfer-');
/** The account createAccount makes at log index 3 (ids come from the index, base 36). */
const a3 = 'a3' as AccountId;
const quiet = { warnings: [] as string[], warn(f: Record<string, unknown>, m: string) { this.warnings.push(`${m} ${JSON.stringify(f)}`); } };

function log(from: number, cmds: CommandInput[]): AppliedCommand[] {
  return cmds.map((c, i) => ({ index: index(from + i), term: term(1), requestId: new Uint8Array([7, (from + i) >> 8, (from + i) & 255]), data: encodeCommand({ ...c, at: 1 } as Command) }));
}

/** A mail state big enough for several chunks: a domain, an account, and appends with bulky extras. */
function mailLog(appends: number): AppliedCommand[] {
  const cmds: CommandInput[] = [
    { type: 'createDomain', name: 'example.com', tenant: 'default' },
    { type: 'createAccount', address: 'a@example.com', passwordHash: 'h', quotaBytes: 0 },
  ];
  const extras = { summary: new Uint8Array(100 * 1024).fill(7) };
  for (let i = 0; i < appends; i++) cmds.push({ type: 'append', accountId: a3, folder: 'INBOX', blobId: `b${i}`, size: 10, internalDate: 1, flags: [], extras });
  return log(2, cmds);
}

async function machine(id: string, peers: MemoryPeerNetwork, members: string[]): Promise<StoreMachine> {
  return StoreMachine.open(join(await newDir(), 'store'), { nodeId: id, transfer: { peers: peers.endpoint(nodeId(id)), members: () => members.map(nodeId), log: quiet } });
}

test('an image crosses in bounded chunks, is verified, swapped in, and later entries it holds are skipped', async () => {
  const peers = new MemoryPeerNetwork();
  const a = await machine('a', peers, ['a', 'b']);
  const b2 = await machine('b', peers, ['a', 'b']);
  try {
    const entries = mailLog(30); // 30 x 100 KiB of extras: several 1 MiB chunks
    await a.applyBatch(entries);
    const marker = await a.snapshot();
    const restored: number[] = [];
    b2.events.on('restored', (i) => restored.push(i));
    const r = b2.restore(marker);
    assert.ok(r instanceof Promise, 'a peer snapshot restores asynchronously');
    await r;
    assert.deepEqual(restored, [entries.at(-1)!.index]);
    assert.deepEqual(await b2.digest(), await a.digest());
    assert.ok((await a.digest()).bytes > 2 * replicationLimits.snapshotChunkBytesMax, 'more than two chunks');

    // Entries the image already holds are skipped (their recorded result comes back); later ones apply.
    const more = log(entries.at(-1)!.index + 1, [{ type: 'append', accountId: a3, folder: 'INBOX', blobId: 'late', size: 1, internalDate: 1, flags: [] }]);
    const again = await b2.applyBatch(entries.slice(-2));
    assert.deepEqual(again, await a.applyBatch(entries.slice(-2)));
    assert.deepEqual(await b2.digest(), await a.digest());
    await a.applyBatch(more);
    await b2.applyBatch(more);
    assert.deepEqual(await b2.digest(), await a.digest());
    // Our own marker, or one we are past: nothing to fetch.
    assert.equal(b2.restore(await b2.snapshot()), undefined);
  } finally {
    await a.close();
    await b2.close();
  }
});

test('a source that tampers with a chunk or lags behind is skipped for another member', async () => {
  const peers = new MemoryPeerNetwork();
  const good = await machine('good', peers, []);
  const bad = await machine('bad', peers, []);
  const behind = await machine('behind', peers, []);
  const entries = mailLog(5);
  await good.applyBatch(entries);
  await bad.applyBatch(entries);
  await behind.applyBatch(entries.slice(0, 3));
  // 'bad' flips one byte in every chunk it serves.
  const badRpc = peers.endpoint(nodeId('bad'));
  badRpc.serve(snapshotService, async (_from, body) => {
    const req = body as { op: string; minApplied: number; imageId: string; after?: Uint8Array };
    if (req.op === 'open') return bad.images.open(req.minApplied);
    const chunk = await bad.images.chunk(req.imageId, req.after);
    const v = chunk.records[1];
    if (v !== undefined) chunk.records[1] = Uint8Array.from(v, (x, i) => (i === 0 ? x ^ 1 : x));
    return chunk;
  });
  const target = await StoreMachine.open(join(await newDir(), 'store'), {
    nodeId: 'target',
    transfer: { peers: peers.endpoint(nodeId('target')), members: () => ['behind', 'good'].map(nodeId), log: quiet },
  });
  try {
    quiet.warnings.length = 0;
    const marker = await bad.snapshot(); // names 'bad' first
    await target.restore(marker);
    assert.deepEqual(await target.digest(), await good.digest());
    assert.ok(quiet.warnings.some((w) => w.includes('"source":"bad"') && w.includes('digest')), quiet.warnings.join('\n'));
    assert.ok(quiet.warnings.some((w) => w.includes('"source":"behind"') && w.includes('behind')), quiet.warnings.join('\n'));
  } finally {
    for (const m of [good, bad, behind, target]) await m.close();
  }
});

test('images kept for transfers are bounded; an evicted one answers NOT_FOUND', async () => {
  const peers = new MemoryPeerNetwork();
  const m = await machine('m', peers, []);
  try {
    await m.applyBatch(mailLog(3));
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      await m.applyBatch(log(100 + i, [{ type: 'createFolder', accountId: a3, name: `F${i}`, specialUse: null }]));
      ids.push((await m.images.open(0)).imageId);
    }
    assert.equal(new Set(ids).size, 1, 'an image at or past the requested index is reused');
    const fresh: string[] = [];
    for (let i = 0; i < replicationLimits.snapshotImagesKeptMax + 1; i++) {
      await m.applyBatch(log(200 + i, [{ type: 'createFolder', accountId: a3, name: `G${i}`, specialUse: null }]));
      fresh.push((await m.images.open(200 + i)).imageId);
    }
    assert.equal(m.images.size(), replicationLimits.snapshotImagesKeptMax);
    await assert.rejects(m.images.chunk(fresh[0]!, undefined), (e) => e instanceof StoreError && e.code === 'NOT_FOUND');
    await assert.rejects(m.images.open(10_000), (e) => e instanceof StoreError && e.code === 'UNAVAILABLE');
  } finally {
    await m.close();
  }
});

test('after a crash in the middle of a swap one complete folder remains', async () => {
  const root = await newDir();
  const dir = join(root, 'store');
  const { incoming, old } = swapPaths(dir);
  // Crash after dir -> old, before incoming -> dir: the old folder comes back.
  await mkdir(old);
  await writeFile(join(old, 'CURRENT'), 'old');
  await mkdir(incoming);
  await recoverSwap(dir);
  assert.deepEqual((await readdir(root)).sort(), ['store']);
  assert.deepEqual(await readdir(dir), ['CURRENT']);
  // Crash after incoming -> dir, before old is removed: the new folder stays.
  await rename(dir, old);
  await mkdir(dir);
  await writeFile(join(dir, 'NEW'), 'new');
  await recoverSwap(dir);
  assert.deepEqual((await readdir(root)).sort(), ['store']);
  assert.deepEqual(await readdir(dir), ['NEW']);
  assert.ok((await stat(dir)).isDirectory());
});
