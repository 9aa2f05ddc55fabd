// Three (and four) store members in one process, real LevelDB: replication of mail state, writes through
// followers, failover with retried writes applied once, state transfer after compaction, joins and removals.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { nodeId } from '../../src/raft/index.ts';
import type { AccountId, AppendResult, CopyResult, FolderId, SetFlagsResult, Store, Uid } from '../../src/store/index.ts';
import { scratchDirs } from '../helpers/temp-dirs.ts';
import { TestCluster, appendCmd, setupAccount, waitFor } from './store-cluster.ts';

const newDir = scratchDirs('stormo-store-cluster-');
const voters = ['n1', 'n2', 'n3'];

const voterIds = (s: Store): string[] => [...s.members().voters].sort();

async function inboxOf(s: Store, a: AccountId): Promise<FolderId> {
  const f = (await s.queries.folders(a, 100)).find((x) => x.name === 'INBOX');
  assert.ok(f, 'INBOX exists');
  return f.id;
}

async function listing(s: Store, a: AccountId, folder: FolderId): Promise<string[]> {
  await s.readBarrier();
  return (await s.queries.messages(a, folder, 10_000)).map((m) => `${m.uid}:${m.blobId}:${m.flags.join(',')}`);
}

test('three members over TCP hold the same mail state, whichever member the writes go through', async () => {
  const c = new TestCluster({ voters, newDir, tcp: true });
  try {
    await c.startAll();
    const leader = await c.leader();
    const [f1, f2] = c.followers(leader);
    const accountId = await setupAccount(c.store(f1!)); // a write through a follower
    const appended: AppendResult[] = [];
    for (let i = 0; i < 30; i++) appended.push(await c.store(voters[i % 3]!).execute<AppendResult>(appendCmd(accountId, `blob-${i}`)));
    for (let i = 1; i < appended.length; i++) assert.equal(appended[i]!.uid, appended[i - 1]!.uid + 1, 'UIDs ascend whatever member proposed');
    const inbox = appended[0]!.folderId;
    const flags = await c.store(f2!).execute<SetFlagsResult>({ type: 'setFlags', accountId, folderId: inbox, uids: [1, 2, 3] as Uid[], op: 'add', flags: ['\\Deleted'], unchangedSince: null });
    assert.equal(flags.changed.length, 3);
    const archive = (await c.store(leader).queries.folders(accountId, 100)).find((f) => f.name === 'Archive')!.id;
    const copied = await c.store(f1!).execute<CopyResult>({ type: 'copy', accountId, from: inbox, to: archive, uids: [4, 5] as Uid[], move: true });
    assert.deepEqual(copied.destUids, [1, 2]);
    await c.store(leader).execute({ type: 'expunge', accountId, folderId: inbox, uids: null });

    // Read-your-writes from every member, and identical listings.
    const views = await Promise.all(voters.map((id) => listing(c.store(id), accountId, inbox)));
    assert.equal(views[0]!.length, 25);
    assert.equal(views[0]![0], '6:blob-5:');
    for (const v of views) assert.deepEqual(v, views[0]);
    await c.converged();
    for (const id of voters) assert.equal(await inboxOf(c.store(id), accountId), inbox);
  } finally {
    await c.closeAll();
  }
});

test('leader stopped: writes resume through the others within 2 s; writes in flight apply once', async (t) => {
  const c = new TestCluster({ voters, newDir });
  try {
    await c.startAll();
    const leader = await c.leader();
    const survivors = c.followers(leader);
    const accountId = await setupAccount(c.store(survivors[0]!));
    const acked = new Set<string>();
    let stopWriters = false;
    let stoppedAt = 0;
    let firstAfterStopMs = -1;
    const writer = async (via: string, tag: string): Promise<void> => {
      for (let i = 0; !stopWriters; i++) {
        const blobId = `${tag}-${i}`;
        const startedAfterStop = stoppedAt > 0;
        try {
          await c.store(via).execute(appendCmd(accountId, blobId), { requestId: randomBytes(16) });
          acked.add(blobId);
          if (startedAfterStop && firstAfterStopMs < 0) firstAfterStopMs = Date.now() - stoppedAt;
        } catch {
          // UNAVAILABLE after the deadline: the write may or may not exist, never twice.
        }
      }
    };
    const writers = survivors.flatMap((via) => [writer(via, `${via}-a`), writer(via, `${via}-b`)]);
    await waitFor(() => acked.size >= 40, 5_000, 'writes before the failover');
    stoppedAt = Date.now();
    await c.stop(leader);
    await waitFor(() => firstAfterStopMs >= 0, 5_000, 'a write after the leader stopped');
    const beforeMore = acked.size;
    await waitFor(() => acked.size >= beforeMore + 40, 5_000, 'writes through the new leader');
    stopWriters = true;
    await Promise.all(writers);
    t.diagnostic(`first write ${firstAfterStopMs} ms after the leader stopped; ${acked.size} writes acknowledged`);
    assert.ok(firstAfterStopMs < 2_000, `first write ${firstAfterStopMs} ms after the leader stopped (G4: < 2000)`);

    const s = c.store(survivors[0]!);
    const inbox = await inboxOf(s, accountId);
    const blobs = (await listing(s, accountId, inbox)).map((l) => l.split(':')[1]!);
    assert.equal(new Set(blobs).size, blobs.length, 'no message applied twice');
    for (const b of acked) assert.ok(blobs.includes(b), `acknowledged ${b} is present`);
    await c.converged();

    // A client retry with the same request id after an answer it did not see: applied once.
    const rid = randomBytes(16);
    const first = await c.store(survivors[1]!).execute<AppendResult>(appendCmd(accountId, 'retried'), { requestId: rid });
    const again = await c.store(survivors[0]!).execute<AppendResult>(appendCmd(accountId, 'retried'), { requestId: rid });
    assert.deepEqual(again, first);
  } finally {
    await c.closeAll();
  }
});

test('a write forwarded to a leader that is cut off at once is proposed again to the new leader and applied once', async () => {
  const c = new TestCluster({ voters, newDir });
  try {
    await c.startAll();
    const leader = await c.leader();
    const via = c.followers(leader)[0]!;
    const accountId = await setupAccount(c.store(via));
    // The leader receives the forwarded proposal and appends it, but nobody hears from it again.
    c.onDeliver = (m) => {
      if (m.type === 'prop' && m.to === leader) {
        c.onDeliver = undefined;
        c.net.isolate(nodeId(leader));
      }
    };
    const started = Date.now();
    const res = await c.store(via).execute<AppendResult>(appendCmd(accountId, 'in-flight'));
    const tookMs = Date.now() - started;
    assert.ok(tookMs < 2_000, `committed ${tookMs} ms after the leader was cut off`);
    assert.notEqual(c.store(via).status().leader, leader);
    c.net.heal();
    await c.converged();
    for (const id of voters) {
      const blobs = (await listing(c.store(id), accountId, res.folderId)).map((l) => l.split(':')[1]);
      assert.deepEqual(blobs, ['in-flight'], `${id} holds the write once`);
    }
  } finally {
    await c.closeAll();
  }
});

test('a member away while the others compact their logs catches up by state transfer, byte for byte', async () => {
  const c = new TestCluster({ voters, newDir, store: { snapshotEntries: 20, snapshotKeepEntries: 5 } });
  try {
    await c.startAll();
    const leader = await c.leader();
    const away = c.followers(leader)[0]!;
    const accountId = await setupAccount(c.store(leader));
    await c.store(away).readBarrier();
    await c.stop(away);
    for (let i = 0; i < 120; i++) await c.store(leader).execute(appendCmd(accountId, `while-away-${i}`));
    assert.ok(c.store(leader).status().raft.firstIndex > 60, 'the leader compacted its log');

    const back = await c.start(away);
    assert.equal(back.ready(), false, 'not ready while catching up');
    const readyAtRestore: boolean[] = [];
    back.onRestored(() => readyAtRestore.push(back.ready()));
    await waitFor(() => readyAtRestore.length > 0, 10_000, 'a snapshot installed from a peer');
    assert.deepEqual(readyAtRestore, [false], 'not ready while the image is swapped in');
    const digest = await c.converged();
    assert.ok(digest.records > 120);
    await waitFor(() => back.ready(), 5_000, 'ready once caught up');
    // It keeps following the log afterwards, through entries the image already held too.
    await c.store(away).execute(appendCmd(accountId, 'after-return'));
    await c.converged();
  } finally {
    await c.closeAll();
  }
});

test('a member stopped while it cannot fetch its image resumes the transfer at restart', async () => {
  const c = new TestCluster({ voters, newDir, store: { snapshotEntries: 20, snapshotKeepEntries: 5 } });
  try {
    await c.startAll();
    const leader = await c.leader();
    const away = c.followers(leader)[0]!;
    const accountId = await setupAccount(c.store(leader));
    await c.store(away).readBarrier();
    await c.stop(away);
    for (let i = 0; i < 60; i++) await c.store(leader).execute(appendCmd(accountId, `while-away-${i}`));
    // Raft reaches it, PeerRpc does not: it stores the snapshot and keeps trying to fetch the image.
    for (const other of voters) if (other !== away) c.peers.setLink(nodeId(away), nodeId(other), false);
    const back = await c.start(away);
    await waitFor(() => back.status().restoring, 10_000, 'a state transfer under way');
    assert.equal(back.ready(), false);
    await c.stop(away); // aborts the transfer
    for (const other of voters) if (other !== away) c.peers.setLink(nodeId(away), nodeId(other), true);
    const again = await c.start(away);
    assert.equal(again.status().restoring, true, 'the stored snapshot is restored from start()');
    const digest = await c.converged();
    assert.equal(digest.appliedIndex, (await c.store(leader).stateDigest()).appliedIndex);
    await waitFor(() => again.ready(), 5_000, 'ready once caught up');
    assert.ok(c.log.warnings.some((w) => w.includes('snapshotFetchFailed')), 'the failed fetches were logged');
  } finally {
    await c.closeAll();
  }
});

test('a fourth node joins as a learner, catches up from a snapshot, is promoted; members can be removed', async () => {
  const c = new TestCluster({ voters, newDir, store: { snapshotEntries: 20, snapshotKeepEntries: 5 } });
  try {
    await c.startAll();
    const leader = await c.leader();
    const accountId = await setupAccount(c.store(leader));
    for (let i = 0; i < 60; i++) await c.store(voters[i % 3]!).execute(appendCmd(accountId, `before-join-${i}`));
    const n4 = await c.start('n4', { join: true });
    assert.equal(n4.ready(), false);
    const restored: number[] = [];
    n4.onRestored((i) => restored.push(i));
    const follower = c.followers(leader).find((id) => id !== 'n4')!;
    const conf = await c.store(follower).addMember('n4'); // through a follower: forwarded to the leader
    assert.ok([...conf.learners, ...conf.voters].includes(nodeId('n4')));
    await waitFor(() => voterIds(c.store(leader)).includes('n4'), 10_000, 'n4 promoted to voter');
    assert.ok(restored.length > 0, 'n4 caught up through state transfer');
    await c.converged();
    await waitFor(() => n4.ready(), 5_000, 'n4 ready');
    await n4.execute(appendCmd(accountId, 'through-n4'));

    // Remove a follower, then the leader itself: the rest keep taking writes.
    await n4.removeMember(follower);
    assert.deepEqual(voterIds(c.store(leader)), ['n1', 'n2', 'n3', 'n4'].filter((x) => x !== follower).sort());
    await c.stop(follower);
    await c.store(leader).removeMember(leader);
    await c.stop(leader);
    const rest = ['n1', 'n2', 'n3', 'n4'].filter((x) => x !== follower && x !== leader);
    const newLeader = await c.leader();
    assert.ok(rest.includes(newLeader));
    assert.deepEqual(voterIds(c.store(newLeader)), rest.sort());
    await c.store(rest[0]!).execute(appendCmd(accountId, 'after-removals'));
    await c.converged();
    const report = await c.store(rest[0]!).clusterStatus();
    assert.deepEqual(report.map((r) => r.id).sort(), rest.sort());
    assert.ok(report.every((r) => r.reachable && r.leader === newLeader));
  } finally {
    await c.closeAll();
  }
});

test('a new node outside the founding voters must be opened with join', async () => {
  const c = new TestCluster({ voters, newDir });
  await assert.rejects(c.start('n9'), (e: unknown) => (e as { code?: string }).code === 'INVALID');
  const joiner = await c.start('n9', { join: true });
  try {
    assert.deepEqual(joiner.members(), { voters: [], learners: [] });
    assert.equal(joiner.ready(), false, 'no leader known before a member adds it');
  } finally {
    await c.closeAll();
  }
});
