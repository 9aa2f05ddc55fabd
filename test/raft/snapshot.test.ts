// Log compaction (Raft §7): MemoryStorage snapshots and compaction, InstallSnapshot to a follower behind
// the compacted log, stale snapshots, and the membership a snapshot carries.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, type Snapshot, index, isRaftError, term } from '../../src/raft/index.ts';
import { RawNode } from '../../src/raft/raw-node.ts';
import { Network, encodeAppliedState, ids } from './network.ts';
import { allEntries, bytes, logShape, msg, n1, n2, n3, n4, n5, newRaft, storageWith, take } from './helpers.ts';

function snapshotAt(i: number, t: number, voters = [n1, n2, n3], learners: typeof voters = []): Snapshot {
  return { meta: { index: index(i), term: term(t), conf: { voters, learners } }, data: encodeAppliedState([`image@${i}`]) };
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return isRaftError(e) ? e.code : String(e);
  }
  return undefined;
}

describe('Raft §7 log compaction', () => {
  // Reference: Raft §7 — "the snapshot also includes ... the last included index and term"; entries up
  // to it are discarded, and the term at the compaction point stays answerable for the consistency check.
  test('MemoryStorage createSnapshot records index, term and membership; compact drops the prefix', () => {
    const s = storageWith([1, 1, 2, 2, 3]);
    const conf = { voters: [n1, n2, n3], learners: [] };
    const snap = s.createSnapshot(index(3), conf, bytes('state@3'));
    assert.deepEqual([snap.meta.index, snap.meta.term, snap.meta.conf], [3, 2, conf]);
    assert.deepEqual(s.snapshot(), snap);
    assert.equal(s.firstIndex(), 1, 'createSnapshot alone does not compact');
    s.compact(index(3));
    assert.deepEqual([s.firstIndex(), s.lastIndex(), s.term(index(3))], [4, 5, 2]);
    assert.equal(code(() => s.term(index(2))), 'COMPACTED');
    assert.equal(code(() => s.entries(index(3), index(5), 100)), 'COMPACTED');
    assert.deepEqual(logShape(s.entries(index(4), index(6), 1000)), [[4, 2], [5, 3]]);
    assert.equal(code(() => s.compact(index(3))), 'COMPACTED');
    assert.equal(code(() => s.createSnapshot(index(3), conf, bytes(''))), 'SNAPSHOT_OUT_OF_DATE');
    assert.equal(code(() => s.applySnapshot(snapshotAt(2, 1))), 'SNAPSHOT_OUT_OF_DATE');
    // Entries appended after compaction extend the log normally.
    s.append([{ index: index(6), term: term(3), kind: 'normal', data: bytes('f') }]);
    assert.equal(s.lastIndex(), 6);
  });

  // Reference: Raft §7 — "the leader must occasionally send snapshots to followers that lag behind ...
  // when it has already discarded the next log entry that it needs to send to a follower". The
  // follower then continues with ordinary AppendEntries.
  test('a follower behind the compacted log gets a snapshot, restores it, then catches up by appends', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.isolate(n3);
    for (const d of ['a', 'b', 'c', 'd', 'e']) net.propose(n1, d);
    const snap = net.compact(n1);
    assert.equal(snap.meta.index, 6);
    net.propose(n1, 'f');
    assert.equal(net.raft(n1).log.firstIndex(), 7);

    net.heal();
    const from = net.delivered.length;
    net.tick(n1);
    const toN3 = net.delivered.slice(from).filter((m) => m.to === n3);
    const snaps = toN3.filter((m) => m.type === 'snap');
    assert.equal(snaps.length, 1);
    assert.equal(snaps[0]!.snapshot!.meta.index, 6);
    const after = toN3.slice(toN3.indexOf(snaps[0]!) + 1).filter((m) => m.type === 'app' && m.entries.length > 0);
    assert.deepEqual(after.flatMap((m) => m.entries.map((e) => e.index)), [7], 'f arrives by append after the snapshot');

    assert.deepEqual(net.get(n3).applied, ['a', 'b', 'c', 'd', 'e', 'f']);
    assert.equal(net.get(n3).storage.firstIndex(), 7, 'the follower stores the snapshot, not the old entries');
    assert.equal(net.raft(n1).prs.get(n3)!.state, 'replicate');
    net.propose(n1, 'g');
    assert.deepEqual(net.get(n3).applied, ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
  });

  // Reference: Raft §7 — InstallSnapshot receiver: a snapshot that does not extend what the follower
  // has committed is ignored, and the answer tells the leader where the follower really is.
  test('a stale snapshot is ignored', () => {
    const r = newRaft(n2, { storage: storageWith([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], { hardState: { term: 1, commit: 10 } }) });
    r.step(msg({ type: 'snap', from: n1, to: n2, term: 1, snapshot: snapshotAt(5, 1) }));
    assert.deepEqual(take(r).map((m) => [m.type, m.index, m.reject]), [['appResp', 10, false]]);
    assert.equal(r.log.firstIndex(), 1);
    assert.equal(r.log.lastIndex(), 10);
    assert.equal(r.log.hasPendingSnapshot(), false);

    // Also when the follower compacted past it: an older image never replaces a newer state.
    const s = storageWith([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], { hardState: { term: 1, commit: 10 } });
    s.createSnapshot(index(8), { voters: [n1, n2, n3], learners: [] }, bytes(''));
    s.compact(index(8));
    const c = newRaft(n2, { storage: s });
    c.step(msg({ type: 'snap', from: n1, to: n2, term: 1, snapshot: snapshotAt(5, 1) }));
    assert.deepEqual(take(c).map((m) => [m.type, m.index, m.reject]), [['appResp', 10, false]]);
    assert.deepEqual([c.log.firstIndex(), c.log.lastIndex(), c.log.committed], [9, 10, 10]);
    assert.equal(c.log.hasPendingSnapshot(), false);
  });

  // Reference: Raft §7 — "If existing log entry has same index and term as snapshot's last included
  // entry, retain log entries following it": the follower only advances its commit index.
  test('a snapshot of an entry the follower already has only advances its commit', () => {
    const r = newRaft(n2, { storage: storageWith([1, 1, 1, 1, 1], { hardState: { term: 1, commit: 1 } }) });
    r.step(msg({ type: 'snap', from: n1, to: n2, term: 1, snapshot: snapshotAt(3, 1) }));
    assert.equal(r.log.committed, 3);
    assert.deepEqual(logShape(allEntries(r)), [[1, 1], [2, 1], [3, 1], [4, 1], [5, 1]]);
    assert.equal(r.log.hasPendingSnapshot(), false);
    assert.deepEqual(take(r).map((m) => [m.type, m.index]), [['appResp', 3]]);
  });

  // Reference: Raft §7 — "Discard the entire log" when the snapshot is newer than it, and "reset state
  // machine using snapshot contents (and load snapshot's cluster configuration)".
  test('a newer snapshot replaces the log and its membership is adopted', () => {
    const r = newRaft(n2, { storage: storageWith([1, 1, 2], { hardState: { term: 2, commit: 1 } }) });
    const snap = snapshotAt(11, 3, [n1, n2, n4], [n5]);
    r.step(msg({ type: 'snap', from: n1, to: n2, term: 3, snapshot: snap }));
    assert.deepEqual(r.confState(), { voters: [n1, n2, n4], learners: [n5] });
    assert.deepEqual([r.log.firstIndex(), r.log.lastIndex(), r.log.committed, r.log.lastTerm()], [12, 11, 11, 3]);
    assert.deepEqual(take(r).map((m) => [m.type, m.index, m.reject]), [['appResp', 11, false]]);
    assert.equal(r.promotable(), false, 'no campaign while the snapshot is not yet persisted');

    // Through a RawNode: the Ready carries the snapshot and no committed entries; after advance,
    // the snapshot counts as applied.
    const storage = storageWith([1, 1, 2], { hardState: { term: 2, commit: 1 } });
    const node = new RawNode(newRaft(n2, { storage }));
    node.step(msg({ type: 'snap', from: n1, to: n2, term: 3, snapshot: snap }));
    const rd = node.ready();
    assert.deepEqual(rd.snapshot, snap);
    assert.deepEqual(rd.committedEntries, []);
    storage.applySnapshot(rd.snapshot!);
    node.advance(rd);
    assert.equal(node.raft.log.applied, 11);
    assert.deepEqual(storage.initialState().confState, { voters: [n1, n2, n4], learners: [n5] });
    assert.equal(node.raft.promotable(), true);
  });

  // Reference: Raft §7 — a node restarted after installing a snapshot starts from it: first index past
  // the snapshot, commit and applied at the snapshot.
  test('a node restarted on a compacted storage starts from its snapshot', () => {
    const s = new MemoryStorage({ voters: [n1, n2, n3], learners: [] });
    s.applySnapshot(snapshotAt(20, 4));
    s.append([{ index: index(21), term: term(4), kind: 'normal', data: bytes('x') }]);
    s.setHardState({ term: term(4), vote: n1, commit: index(21) });
    const r = newRaft(n2, { storage: s });
    assert.deepEqual([r.log.firstIndex(), r.log.lastIndex(), r.log.applied, r.log.committed], [21, 21, 20, 21]);
    assert.deepEqual(r.log.nextCommittedEntries(1000).map((e) => e.index), [21]);
  });
});
