// RawNode's Ready/advance contract (etcd/raft's design for Raft §5.1 Figure 2 persistence): what each Ready
// carries, when it must be synced, and that every item is handed out exactly once.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionFailure } from '../../src/raft/assert.ts';
import { MemoryStorage, type Ready, RawNode, message } from '../../src/raft/index.ts';
import { bytes, msg, n1, n2, n3, newRaft, storageWith, text } from './helpers.ts';

function node(opts: Parameters<typeof newRaft>[1] = {}) {
  const storage = new MemoryStorage({ voters: opts.voters ?? [n1, n2, n3], learners: [] });
  return { storage, node: new RawNode(newRaft(n1, { ...opts, storage })) };
}

/** The driver loop body: persist, then advance (messages are the caller's to inspect). */
function persist(storage: MemoryStorage, rn: RawNode, rd: Ready): void {
  if (rd.snapshot) storage.applySnapshot(rd.snapshot);
  storage.append(rd.entries);
  if (rd.hardState) storage.setHardState(rd.hardState);
  rn.advance(rd);
}

describe('RawNode Ready/advance', () => {
  // Reference: Raft §5.1, Figure 2 ("updated on stable storage before responding to RPCs") — the driver
  // must finish one Ready (persist, send, apply, advance) before taking the next; doing otherwise is a
  // programmer error.
  test('ready() twice without advance(), or advance() without ready(), asserts', () => {
    const { node: rn } = node();
    rn.campaign();
    const rd = rn.ready();
    assert.throws(() => rn.ready(), AssertionFailure);
    rn.advance(rd);
    assert.throws(() => rn.advance(rd), AssertionFailure);
  });

  // Reference: Raft §5.1, Figure 2 — currentTerm, votedFor and log[] are persistent state: a Ready that
  // changes them must be synced before its messages go out; one that changes only the commit index or
  // only sends messages need not be.
  test('mustSync is set exactly when term, vote or entries change', () => {
    const pre = node();
    pre.node.campaign(); // pre-vote: messages only
    const preRd = pre.node.ready();
    assert.equal(preRd.messages.length, 2);
    assert.equal(preRd.hardState, undefined);
    assert.equal(preRd.mustSync, false);

    const { storage, node: rn } = node({ preVote: false });
    rn.campaign(); // term and vote change
    let rd = rn.ready();
    assert.deepEqual([rd.hardState?.term, rd.hardState?.vote, rd.mustSync], [1, n1, true]);
    persist(storage, rn, rd);

    rn.step(msg({ type: 'voteResp', from: n2, to: n1, term: 1 })); // leader: appends its no-op
    rd = rn.ready();
    assert.equal(rd.entries.length, 1);
    assert.equal(rd.mustSync, true);
    persist(storage, rn, rd);

    rn.step(msg({ type: 'appResp', from: n2, to: n1, term: 1, index: 1 })); // commit only
    rd = rn.ready();
    assert.equal(rd.hardState?.commit, 1);
    assert.equal(rd.entries.length, 0);
    assert.equal(rd.mustSync, false);
  });

  // Reference: Raft §5.1, Figure 2 — a vote is persisted before it is sent: the grant travels in the
  // same Ready as the hard state recording it.
  test('a granted vote and its hard state travel in one synced Ready', () => {
    const { node: rn } = node();
    rn.step(msg({ type: 'vote', from: n2, to: n1, term: 3 }));
    const rd = rn.ready();
    assert.deepEqual(rd.hardState, { term: 3, vote: n2, commit: 0 });
    assert.equal(rd.mustSync, true);
    assert.deepEqual(rd.messages.map((m) => [m.type, m.to, m.reject]), [['voteResp', n2, false]]);

    // A vote within the current term changes only votedFor: still a synced write.
    const same = new RawNode(newRaft(n1, { storage: storageWith([], { hardState: { term: 3 } }) }));
    same.step(msg({ type: 'vote', from: n3, to: n1, term: 3 }));
    const rd2 = same.ready();
    assert.deepEqual([rd2.hardState?.term, rd2.hardState?.vote, rd2.mustSync], [3, n3, true]);
  });

  // Reference: Raft §5.3 — "the leader ... applies the entry to its state machine"; every committed entry
  // is handed to the application once, in log order.
  test('committed entries are handed out once, in order', () => {
    const { storage, node: rn } = node({ voters: [n1] });
    rn.campaign();
    persist(storage, rn, rn.ready());
    rn.propose(bytes('a'));
    rn.proposeEntries([bytes('b'), bytes('c')]);
    const rd = rn.ready();
    assert.deepEqual(rd.committedEntries.map((e) => text(e.data)), ['a', 'b', 'c'], 'the no-op went out in the first Ready');
    persist(storage, rn, rd);
    assert.equal(rn.hasReady(), false);
    rn.propose(bytes('d'));
    const next = rn.ready();
    assert.deepEqual(next.committedEntries.map((e) => text(e.data)), ['d']);
  });

  // Reference: Raft §5.2 — role and leader changes are reported (soft state) when they happen, and only
  // then.
  test('soft state changes are reported once', () => {
    const { storage, node: rn } = node({ preVote: false });
    assert.equal(rn.hasReady(), false);
    rn.campaign();
    let rd = rn.ready();
    assert.deepEqual(rd.softState, { lead: '', role: 'candidate' });
    persist(storage, rn, rd);
    rn.step(msg({ type: 'voteResp', from: n2, to: n1, term: 1 }));
    rd = rn.ready();
    assert.deepEqual(rd.softState, { lead: n1, role: 'leader' });
    persist(storage, rn, rd);
    rn.propose(bytes('x'));
    rd = rn.ready();
    assert.equal(rd.softState, undefined);
  });

  // Reference: Raft §5.2 — only a node's own election timer starts an election: local-only message types
  // (hup, beat, checkQuorum, unreachable, snapStatus) arriving from the network are ignored.
  test('local-only messages from the network are ignored', () => {
    const { node: rn } = node({ preVote: false });
    for (const type of ['hup', 'beat', 'checkQuorum'] as const) rn.step(message({ type, from: n2, to: n1 }));
    assert.equal(rn.raft.role, 'follower');
    assert.equal(rn.raft.term, 0);
    assert.equal(rn.hasReady(), false);
  });
});
