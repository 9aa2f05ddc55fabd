// Check-quorum and the leader lease (Raft thesis §6.2, §4.2.3): a leader without a quorum steps down,
// and followers that hear from a live leader ignore candidates.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { noNode } from '../../src/raft/index.ts';
import { Network, ids } from './network.ts';
import { bytes, forceLeader, msg, n1, n2, n3, n4, n5, newRaft, storageWith, take } from './helpers.ts';

const electionTicks = 10;

describe('Raft thesis §6.2 check-quorum and §4.2.3 leader lease', () => {
  // Reference: Raft thesis §6.2 — "a leader steps down if an election timeout elapses without a
  // successful round of heartbeats to a majority of its cluster."
  test('a leader cut off from a majority steps down at its next silent check-quorum round', () => {
    for (let k = 0; k < electionTicks; k++) {
      const net = new Network(ids(1, 2, 3));
      net.campaign(n1);
      net.tick(n1, k);
      net.isolate(n1);
      let ticks = 0;
      while (net.raft(n1).role === 'leader') {
        net.tick(n1);
        ticks++;
        assert.ok(ticks <= 2 * electionTicks, `cut at ${k}: still leader after ${ticks} ticks`);
      }
      // The round running at the cut still saw the followers; the next one, a full election
      // timeout without any answer, ends the leadership.
      assert.equal(k + ticks, 2 * electionTicks, `cut at tick ${k}`);
      assert.equal(net.raft(n1).role, 'follower');
      assert.equal(net.raft(n1).lead, noNode);
    }
  });

  // Reference: Raft thesis §6.2 — check-quorum only demotes a leader that lost its quorum: a healthy
  // leader, or one that lost a minority, keeps leading.
  test('a leader that hears from a majority keeps leading', () => {
    const net = new Network(ids(1, 2, 3, 4, 5));
    net.campaign(n1);
    net.isolate(n4);
    net.isolate(n5);
    net.tickAll(100);
    assert.equal(net.raft(n1).role, 'leader');
    assert.equal(net.raft(n1).term, 1);
  });

  // Reference: Raft thesis §6.2 — only voters count: a leader whose sole live peer is a learner has
  // no quorum.
  test('check-quorum does not count learners', () => {
    const r = forceLeader(newRaft(n1, { voters: [n1, n2, n3], learners: [n4] }));
    for (let i = 0; i < 3 * electionTicks && r.role === 'leader'; i++) {
      r.tick();
      r.step(msg({ type: 'heartbeatResp', from: n4, to: n1, term: r.term }));
      take(r);
    }
    assert.equal(r.role, 'follower');
  });

  // Reference: Raft thesis §4.2.3 — "if a server receives a RequestVote request within the minimum
  // election timeout of hearing from a current leader, it does not update its term or grant its vote."
  // A leadership transfer (thesis §3.10) is the one exception: it is marked so voters let it through.
  test('a follower in its lease ignores vote requests unless the transfer context is set', () => {
    const setup = () => {
      const r = newRaft(n1, { storage: storageWith([1], { hardState: { term: 1 } }), seed: 3 });
      r.step(msg({ type: 'heartbeat', from: n2, to: n1, term: 1 }));
      take(r);
      return r;
    };
    for (const type of ['vote', 'preVote'] as const) {
      const r = setup();
      r.step(msg({ type, from: n3, to: n1, term: 2, index: 1, logTerm: 1 }));
      assert.deepEqual(take(r), [], `${type} in lease: no answer at all`);
      assert.equal(r.term, 1);
      assert.equal(r.vote, noNode);
      assert.equal(r.lead, n2);
    }

    const forced = setup();
    forced.step(msg({ type: 'vote', from: n3, to: n1, term: 2, index: 1, logTerm: 1, context: bytes('transfer') }));
    assert.deepEqual(take(forced).map((m) => [m.type, m.term, m.reject]), [['voteResp', 2, false]]);
    assert.equal(forced.term, 2);
    assert.equal(forced.vote, n3);

    // Once a full election timeout passed without the leader, the lease is over.
    const expired = setup();
    assert.ok(expired.randomizedElectionTimeout > electionTicks, 'seed chosen so the follower does not campaign first');
    for (let i = 0; i < electionTicks; i++) expired.tick();
    assert.equal(expired.role, 'follower');
    expired.step(msg({ type: 'vote', from: n3, to: n1, term: 2, index: 1, logTerm: 1 }));
    assert.deepEqual(take(expired).map((m) => [m.type, m.term, m.reject]), [['voteResp', 2, false]]);
  });

  // Reference: Raft thesis §4.2.3 — the leader itself is in its lease too: a disruptive candidate's
  // higher term does not depose it.
  test('a leader in its lease ignores a vote request of a higher term', () => {
    const r = forceLeader(newRaft(n1));
    const t = r.term;
    r.step(msg({ type: 'vote', from: n3, to: n1, term: t + 5, index: 99, logTerm: 99 }));
    assert.equal(r.role, 'leader');
    assert.equal(r.term, t);
    assert.deepEqual(take(r), []);
  });

  // Reference: Raft thesis §4.2.3 with Raft §5.1 — the lease must not strand a node whose term ran
  // ahead while it was partitioned (pre-vote off): the leader learns the higher term from its answer
  // to a heartbeat, and the group settles on one leader in one term again.
  test('a candidate stuck in a higher term behind the lease is freed', () => {
    const net = new Network(ids(1, 2, 3), { preVote: false });
    net.campaign(n1);
    net.isolate(n3);
    net.tickAll(50);
    const stuck = net.raft(n3).term;
    assert.ok(stuck > 1);
    net.heal();
    net.tickAll(60);
    const leaders = net.leaders();
    assert.equal(leaders.length, 1);
    const t = net.raft(leaders[0]!).term;
    assert.ok(t >= stuck);
    for (const id of ids(1, 2, 3)) assert.equal(net.raft(id).term, t);
  });
});
