// The leader election rules of the Raft paper (§5.1, §5.2, the voting half of §5.4.1), one test per rule.
// Tests drive a bare Raft with hand-made messages, or a synchronous Network when a whole round matters.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Message, type NodeId, type Raft, noNode } from '../../src/raft/index.ts';
import { Network, ids } from './network.ts';
import { forceLeader, msg, n1, n2, n3, n4, n5, newRaft, storageWith, take } from './helpers.ts';

const paperRules = { preVote: false, checkQuorum: false };

function votesSent(ms: readonly Message[]): Message[] {
  return ms.filter((m) => m.type === 'vote' || m.type === 'preVote');
}

describe('Raft §5.1-§5.2 leader election', () => {
  // Reference: Raft §5.2 — "When servers start up, they begin as followers."
  test('a new node starts as a follower of term 0 with no vote and no leader', () => {
    const r = newRaft(n1);
    assert.equal(r.role, 'follower');
    assert.equal(r.term, 0);
    assert.equal(r.vote, noNode);
    assert.equal(r.lead, noNode);
    // A restarted node also starts as a follower, in its persisted term.
    const again = newRaft(n1, { storage: storageWith([1, 2], { hardState: { term: 5, vote: n2, commit: 1 } }) });
    assert.equal(again.role, 'follower');
    assert.equal(again.term, 5);
  });

  // Reference: Raft §5.2 — election timeouts are chosen randomly from a fixed interval
  // ([electionTicks, 2*electionTicks) here) so that split votes are rare.
  test('a follower campaigns after a randomized timeout in [electionTicks, 2*electionTicks)', () => {
    const seen = new Set<number>();
    for (let seed = 1; seed <= 100; seed++) {
      const r = newRaft(n1, { seed, ...paperRules });
      let ticks = 0;
      while (r.role === 'follower') {
        r.tick();
        ticks++;
        assert.ok(ticks < 20, `seed ${seed}: still a follower after ${ticks} ticks`);
      }
      assert.ok(ticks >= 10, `seed ${seed}: campaigned after ${ticks} ticks`);
      assert.equal(r.role, 'candidate');
      seen.add(ticks);
    }
    // Randomized, not fixed: nearly every value of the interval occurs.
    assert.ok(seen.size >= 8, `only ${seen.size} distinct timeouts: ${[...seen].sort()}`);
  });

  // Reference: Raft §5.2 — "A server remains in follower state as long as it receives valid RPCs
  // from a leader or candidate."
  test('a follower that keeps hearing from its leader never campaigns', () => {
    const r = newRaft(n1, paperRules);
    r.step(msg({ type: 'heartbeat', from: n2, to: n1, term: 1 }));
    for (let i = 0; i < 100; i++) {
      r.tick();
      if (i % 5 === 0) r.step(msg({ type: 'heartbeat', from: n2, to: n1, term: 1 }));
    }
    assert.equal(r.role, 'follower');
    assert.equal(r.term, 1);
    assert.equal(r.lead, n2);
  });

  // Reference: Raft §5.2 — "To begin an election, a follower increments its current term and
  // transitions to candidate state. It then votes for itself and issues RequestVote RPCs in
  // parallel to each of the other servers."
  test('a candidate increments its term, votes for itself and asks every other voter', () => {
    const r = newRaft(n1, { ...paperRules, storage: storageWith([1, 1, 2], { hardState: { term: 2 } }) });
    r.step(msg({ type: 'hup', from: n1 }));
    assert.equal(r.role, 'candidate');
    assert.equal(r.term, 3);
    assert.equal(r.vote, n1);
    const votes = votesSent(take(r));
    assert.deepEqual(
      votes.map((m) => [m.type, m.to, m.term, m.index, m.logTerm]),
      [
        ['vote', n2, 3, 3, 2],
        ['vote', n3, 3, 3, 2],
      ],
    );
  });

  // Reference: Raft §5.2 — "If election timeout elapses [as candidate]: start new election."
  test('a candidate whose election times out starts a new election in a higher term', () => {
    const r = newRaft(n1, paperRules);
    r.step(msg({ type: 'hup', from: n1 }));
    assert.equal(r.term, 1);
    take(r);
    for (let i = 0; i < 20 && r.term === 1; i++) r.tick();
    assert.equal(r.role, 'candidate');
    assert.equal(r.term, 2);
    assert.equal(votesSent(take(r)).length, 2);
  });

  // Reference: Raft §5.2 — "A candidate wins an election if it receives votes from a majority of the
  // servers in the full cluster for the same term"; a majority of rejections sends it back to follower.
  test('a candidate becomes leader exactly when a majority grants its vote', () => {
    const cases: { size: number; grants: NodeId[]; rejects: NodeId[]; want: Raft['role'] }[] = [
      { size: 1, grants: [], rejects: [], want: 'leader' },
      { size: 3, grants: [n2], rejects: [], want: 'leader' },
      { size: 3, grants: [], rejects: [n2], want: 'candidate' },
      { size: 3, grants: [], rejects: [n2, n3], want: 'follower' },
      { size: 5, grants: [n2], rejects: [], want: 'candidate' },
      { size: 5, grants: [n2, n3], rejects: [], want: 'leader' },
      { size: 5, grants: [n2], rejects: [n3, n4], want: 'candidate' },
      { size: 5, grants: [], rejects: [n2, n3, n4], want: 'follower' },
      { size: 5, grants: [n2, n3], rejects: [n4, n5], want: 'leader' },
    ];
    for (const c of cases) {
      const voters = [n1, n2, n3, n4, n5].slice(0, c.size);
      const r = newRaft(n1, { ...paperRules, voters });
      r.step(msg({ type: 'hup', from: n1 }));
      for (const v of c.rejects) r.step(msg({ type: 'voteResp', from: v, to: n1, term: 1, reject: true }));
      for (const v of c.grants) r.step(msg({ type: 'voteResp', from: v, to: n1, term: 1 }));
      assert.equal(r.role, c.want, JSON.stringify(c));
      assert.equal(r.term, 1);
    }
  });

  // Reference: Raft §5.2 — "Each server will vote for at most one candidate in a given term, on a
  // first-come-first-served basis" (Figure 2: votedFor is null or candidateId).
  test('a follower grants at most one vote per term', () => {
    const cases: { votedFor: NodeId; candidate: NodeId; granted: boolean }[] = [
      { votedFor: noNode, candidate: n2, granted: true },
      { votedFor: noNode, candidate: n3, granted: true },
      { votedFor: n2, candidate: n2, granted: true }, // a retried request is answered the same way
      { votedFor: n3, candidate: n3, granted: true },
      { votedFor: n2, candidate: n3, granted: false },
      { votedFor: n3, candidate: n2, granted: false },
    ];
    for (const c of cases) {
      const r = newRaft(n1, { ...paperRules, storage: storageWith([], { hardState: { term: 1, vote: c.votedFor } }) });
      r.step(msg({ type: 'vote', from: c.candidate, to: n1, term: 1 }));
      const [resp, ...rest] = take(r);
      assert.equal(rest.length, 0);
      assert.deepEqual([resp?.type, resp?.to, resp?.term, resp?.reject], ['voteResp', c.candidate, 1, !c.granted], JSON.stringify(c));
      assert.equal(r.vote, c.granted ? c.candidate : c.votedFor);
    }
  });

  // Reference: Raft §5.2 — one vote per term, end to end: a second candidate of the same term is refused.
  test('a second candidate in the same term is refused by a node that already voted', () => {
    const net = new Network(ids(1, 2, 3), paperRules);
    // n1 and n2 both campaign in term 1 before any message moves; n3 gets n1's request first.
    net.get(n1).node.campaign();
    net.get(n2).node.campaign();
    net.settle();
    const asks = net.delivered.filter((m) => m.type === 'vote' && m.to === n3).map((m) => m.from);
    assert.deepEqual(asks, [n1, n2]);
    const answers = net.delivered.filter((m) => m.type === 'voteResp' && m.from === n3).map((m) => [m.to, m.term, m.reject]);
    assert.deepEqual(answers, [
      [n1, 1, false],
      [n2, 1, true],
    ]);
    assert.equal(net.raft(n3).vote, n1);
    assert.deepEqual(net.leaders(), [n1]);
  });

  // Reference: Raft §5.4.1 — "If the logs have last entries with different terms, then the log with the
  // later term is more up-to-date. If the logs end with the same term, then whichever log is longer
  // is more up-to-date." A voter denies its vote to a candidate whose log is less up-to-date.
  test('a vote is granted only to a candidate whose log is at least as up-to-date', () => {
    // The voter's log ends at index 2, term 2.
    const cases: { lastIndex: number; lastTerm: number; granted: boolean; why: string }[] = [
      { lastIndex: 2, lastTerm: 1, granted: false, why: 'lower last term, same length' },
      { lastIndex: 5, lastTerm: 1, granted: false, why: 'lower last term, longer log' },
      { lastIndex: 1, lastTerm: 2, granted: false, why: 'same last term, shorter log' },
      { lastIndex: 0, lastTerm: 0, granted: false, why: 'empty log' },
      { lastIndex: 2, lastTerm: 2, granted: true, why: 'identical' },
      { lastIndex: 3, lastTerm: 2, granted: true, why: 'same last term, longer log' },
      { lastIndex: 1, lastTerm: 3, granted: true, why: 'higher last term, shorter log' },
    ];
    for (const c of cases) {
      const r = newRaft(n1, { ...paperRules, storage: storageWith([1, 2], { hardState: { term: 2 } }) });
      r.step(msg({ type: 'vote', from: n2, to: n1, term: 3, index: c.lastIndex, logTerm: c.lastTerm }));
      const resp = take(r).find((m) => m.type === 'voteResp');
      assert.ok(resp, c.why);
      assert.equal(resp.reject, !c.granted, c.why);
      assert.equal(r.vote, c.granted ? n2 : noNode, c.why);
      // Either way the voter adopted the newer term (Raft §5.1).
      assert.equal(r.term, 3, c.why);
    }
  });

  // Reference: Raft §5.2 — "If the leader's term is at least as large as the candidate's current term,
  // then the candidate recognizes the leader as legitimate and returns to follower state."
  test('a candidate steps down on AppendEntries of the same or a higher term, not a lower one', () => {
    for (const [appTerm, wantRole, wantTerm] of [
      [2, 'follower', 2],
      [3, 'follower', 3],
      [1, 'candidate', 2],
    ] as const) {
      const r = newRaft(n1, { ...paperRules, storage: storageWith([], { hardState: { term: 1 } }) });
      r.step(msg({ type: 'hup', from: n1 }));
      assert.equal(r.term, 2);
      r.step(msg({ type: 'app', from: n2, to: n1, term: appTerm }));
      assert.equal(r.role, wantRole, `app of term ${appTerm}`);
      assert.equal(r.term, wantTerm);
      assert.equal(r.lead, wantRole === 'follower' ? n2 : noNode);
      // Stepping down within its own term keeps the candidate's vote for itself (one vote per term).
      if (appTerm === 2) assert.equal(r.vote, n1);
    }
    // A pre-candidate (thesis §9.6) does the same.
    const p = newRaft(n1, { storage: storageWith([], { hardState: { term: 1 } }) });
    p.step(msg({ type: 'hup', from: n1 }));
    assert.equal(p.role, 'preCandidate');
    p.step(msg({ type: 'heartbeat', from: n2, to: n1, term: 1 }));
    assert.equal(p.role, 'follower');
    assert.equal(p.lead, n2);
  });

  // Reference: Raft §5.1 — "If a candidate or leader discovers that its term is out of date, it
  // immediately reverts to follower state"; Figure 2: "If RPC request or response contains term T >
  // currentTerm: set currentTerm = T, convert to follower" (and votedFor is for the old term).
  test('any role seeing a higher term becomes a follower of that term with no vote', () => {
    const setups: [string, (r: Raft) => void][] = [
      ['follower that voted', (r) => r.step(msg({ type: 'vote', from: n3, to: n1, term: 1 }))],
      ['candidate', (r) => r.step(msg({ type: 'hup', from: n1 }))],
      ['leader', (r) => forceLeader(r)],
    ];
    for (const [name, setup] of setups) {
      for (const type of ['app', 'heartbeat', 'appResp', 'voteResp'] as const) {
        const r = newRaft(n1, paperRules);
        setup(r);
        assert.notEqual(r.vote, noNode, name);
        take(r);
        r.step(msg({ type, from: n2, to: n1, term: 5, reject: type === 'voteResp' }));
        assert.equal(r.role, 'follower', `${name} <- ${type}`);
        assert.equal(r.term, 5);
        assert.equal(r.vote, noNode, `${name} <- ${type}: vote of an older term cleared`);
        // Only an AppendEntries or heartbeat names the new leader.
        assert.equal(r.lead, type === 'app' || type === 'heartbeat' ? n2 : noNode);
      }
    }
  });

  // Reference: Raft §5.1 — "If a server receives a request with a stale term number, it rejects the
  // request." The stale leader is told the current term so that it steps down.
  test('messages of a stale term change nothing, and a stale leader is told the new term', () => {
    const r = newRaft(n1, { storage: storageWith([1, 2], { hardState: { term: 3, commit: 1 } }) });
    const before = { term: r.term, vote: r.vote, last: r.log.lastIndex(), commit: r.log.committed };
    r.step(msg({ type: 'app', from: n2, to: n1, term: 2, index: 2, logTerm: 2, entries: [], commit: 2 }));
    r.step(msg({ type: 'heartbeat', from: n2, to: n1, term: 2, commit: 2 }));
    r.step(msg({ type: 'vote', from: n3, to: n1, term: 2, index: 9, logTerm: 9 }));
    assert.deepEqual({ term: r.term, vote: r.vote, last: r.log.lastIndex(), commit: r.log.committed }, before);
    const out = take(r);
    assert.deepEqual(
      out.map((m) => [m.type, m.to, m.term, m.reject]),
      [
        ['appResp', n2, 3, false],
        ['appResp', n2, 3, false],
      ],
      'no vote for a stale candidate; each stale leader message answered with the current term',
    );
    // The stale leader steps down on that answer.
    const old = forceLeader(newRaft(n2, { storage: storageWith([1, 2], { hardState: { term: 1 } }) }));
    assert.equal(old.term, 2);
    for (const m of out) old.step(m);
    assert.equal(old.role, 'follower');
    assert.equal(old.term, 3);
  });

  // Reference: Raft §5.1 — a stale leader learns the new term end to end, through the responses of
  // the nodes that elected its successor.
  test('a leader separated during an election steps down when it hears the new term', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    assert.equal(net.raft(n1).term, 1);
    net.isolate(n1);
    for (let i = 0; i < 100 && net.raft(n2).role !== 'leader' && net.raft(n3).role !== 'leader'; i++) {
      net.tick(n2);
      net.tick(n3);
    }
    const newLeader = net.raft(n2).role === 'leader' ? n2 : n3;
    assert.equal(net.raft(newLeader).term, 2);
    assert.equal(net.raft(n1).role, 'leader', 'n1 has not noticed yet');
    net.heal();
    net.tick(n1); // its heartbeat is answered with term 2
    assert.equal(net.raft(n1).role, 'follower');
    assert.equal(net.raft(n1).term, 2);
    assert.deepEqual(net.leaders(), [newLeader]);
  });

  // Reference: Raft §5.2 — "Raft uses randomized election timeouts to ensure that split votes are
  // rare and that they are resolved quickly."
  test('a split vote is resolved by randomized timeouts with a single leader', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const net = new Network(ids(1, 2, 3, 4), paperRules, seed);
      // n1 and n2 campaign at once in term 1; n3 hears only n1, n4 only n2: two votes each, no majority of 4.
      net.cutLink(n1, n4);
      net.cutLink(n2, n3);
      net.get(n1).node.campaign();
      net.get(n2).node.campaign();
      net.settle();
      net.heal();
      assert.equal(net.raft(n1).role, 'candidate');
      assert.equal(net.raft(n2).role, 'candidate');
      assert.deepEqual([net.raft(n3).vote, net.raft(n4).vote], [n1, n2]);
      let ticks = 0;
      while (net.leaders().length === 0) {
        net.tickAll();
        ticks++;
        assert.ok(ticks <= 60, `seed ${seed}: no leader after ${ticks} ticks`);
      }
      const [leader, ...others] = net.leaders();
      assert.deepEqual(others, [], `seed ${seed}: one leader`);
      const t = net.raft(leader!).term;
      assert.ok(t >= 2, `seed ${seed}: the split term 1 produced no leader`);
      for (const n of net.nodes.values()) {
        assert.equal(n.node.raft.term, t);
        assert.equal(n.node.raft.lead, leader);
      }
    }
  });

  // Reference: Raft §5.2 — elections are for voters: a leader ignores its own election timer, and a
  // node outside the voter set (here a learner, thesis §4.2.1) never campaigns.
  test('leaders and learners never start elections', () => {
    const leader = forceLeader(newRaft(n1, paperRules));
    const t = leader.term;
    leader.step(msg({ type: 'hup', from: n1 }));
    for (let i = 0; i < 50; i++) leader.tick();
    assert.equal(leader.role, 'leader');
    assert.equal(leader.term, t);

    const learner = newRaft(n4, { ...paperRules, voters: [n1, n2, n3], learners: [n4] });
    learner.step(msg({ type: 'hup', from: n4 }));
    for (let i = 0; i < 50; i++) learner.tick();
    assert.equal(learner.role, 'follower');
    assert.equal(learner.term, 0);
    assert.deepEqual(take(learner), []);
  });
});
