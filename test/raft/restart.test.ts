// Restart from stable storage (Raft §5.1 Figure 2 persistent state, thesis §3.8): a node rebuilt from what it
// persisted keeps its term, vote and log, and so can never vote twice in one term.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStorage, RawNode } from '../../src/raft/index.ts';
import { Network, ids } from './network.ts';
import { allEntries, logShape, msg, n1, n2, n3, newRaft, text } from './helpers.ts';

describe('Raft thesis §3.8 restart from persisted state', () => {
  // Reference: Raft thesis §3.8 — "each server persists its current term and vote ... and its log";
  // a restarted server resumes from them.
  test('a node rebuilt from its storage keeps term, vote, log and commit', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.propose(n1, 'a');
    net.propose(n1, 'b');
    const before = net.raft(n2);
    const snapshot = { term: before.term, vote: before.vote, log: logShape(allEntries(before)), commit: before.log.committed };
    assert.equal(snapshot.vote, n1);
    net.restart(n2);
    const after = net.raft(n2);
    assert.notEqual(after, before);
    assert.deepEqual({ term: after.term, vote: after.vote, log: logShape(allEntries(after)), commit: after.log.committed }, snapshot);
    assert.equal(after.role, 'follower');
    assert.equal(after.lead, '', 'who leads is volatile');
    // It rejoins: the next heartbeat names the leader and new entries flow.
    net.tick(n1);
    net.propose(n1, 'c');
    assert.equal(after.lead, n1);
    assert.deepEqual(net.get(n2).applied, ['a', 'b', 'c'], 'nothing applied twice across the restart');
  });

  // Reference: Raft thesis §3.8 — the vote is persisted so that "a server [cannot] vote for two
  // different candidates in the same term" across a crash.
  test('a restarted node does not vote twice in a term', () => {
    const storage = new MemoryStorage({ voters: [n1, n2, n3], learners: [] });
    const first = new RawNode(newRaft(n1, { storage }));
    first.step(msg({ type: 'vote', from: n2, to: n1, term: 5 }));
    const rd = first.ready();
    storage.setHardState(rd.hardState!);
    first.advance(rd);

    const again = new RawNode(newRaft(n1, { storage }));
    again.step(msg({ type: 'vote', from: n3, to: n1, term: 5 }));
    assert.deepEqual(again.ready().messages.map((m) => [m.type, m.to, m.reject]), [['voteResp', n3, true]]);
    const third = new RawNode(newRaft(n1, { storage }));
    third.step(msg({ type: 'vote', from: n2, to: n1, term: 5 }));
    assert.deepEqual(third.ready().messages.map((m) => [m.type, m.to, m.reject]), [['voteResp', n2, false]], 'the same candidate again');
  });

  // Reference: Raft thesis §3.8 — the state machine is volatile unless snapshotted: a node restarted
  // without `applied` replays its committed entries; with it, it resumes after them.
  test('committed entries are handed out again only past the applied index given at restart', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.propose(n1, 'a');
    net.propose(n1, 'b');
    const storage = net.get(n2).storage;
    const replay = new RawNode(newRaft(n2, { storage }));
    assert.deepEqual(replay.ready().committedEntries.map((e) => text(e.data)), ['', 'a', 'b']);
    const resume = new RawNode(newRaft(n2, { storage, applied: net.raft(n2).log.applied }));
    assert.equal(resume.hasReady(), false);
  });

  // Reference: Raft §5.2 with thesis §3.8 — a leader that crashes comes back as a follower; the group
  // elects a leader again and loses nothing committed.
  test('a restarted leader comes back as a follower and nothing committed is lost', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.propose(n1, 'a');
    net.restart(n1);
    assert.equal(net.raft(n1).role, 'follower');
    for (let i = 0; i < 60 && net.leaders().length === 0; i++) net.tickAll();
    const [leader] = net.leaders();
    assert.ok(leader);
    net.propose(leader, 'b');
    for (const id of ids(1, 2, 3)) assert.deepEqual(net.get(id).applied, ['a', 'b'], id);
  });
});
