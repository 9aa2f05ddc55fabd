// Pre-vote (Raft thesis §9.6): a node learns whether it could win before it disrupts anyone with a higher term.
// Bare-Raft tests for the message rules, Network tests for the partition that motivates the feature.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { noNode } from '../../src/raft/index.ts';
import { Network, ids } from './network.ts';
import { msg, n1, n2, n3, n4, n5, newRaft, storageWith, take } from './helpers.ts';

describe('Raft thesis §9.6 pre-vote', () => {
  // Reference: Raft thesis §9.6 — "a candidate would first ask other servers whether its log was
  // up-to-date enough to get their vote. Only if the candidate believed it could get votes from a
  // majority of the cluster would it increment its term and start a normal election."
  test('a partitioned node that rejoins neither raises the term nor disrupts a healthy leader', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.propose(n1, 'a');
    const t = net.raft(n1).term;
    net.isolate(n3);
    net.tickAll(100);
    assert.equal(net.raft(n3).term, t, 'pre-votes alone never raise the term');
    assert.notEqual(net.raft(n3).role, 'leader');
    net.propose(n1, 'b');
    net.heal();
    net.tickAll(30);
    assert.deepEqual(net.leaders(), [n1]);
    for (const id of ids(1, 2, 3)) {
      assert.equal(net.raft(id).term, t, `${id} still in term ${t}`);
      assert.equal(net.raft(id).lead, n1);
    }
    assert.deepEqual(net.get(n3).applied, ['a', 'b']);

    // The same partition without pre-vote and check-quorum does disrupt: the rejoining node's
    // inflated term deposes the leader. This is what the feature prevents.
    const plain = new Network(ids(1, 2, 3), { preVote: false, checkQuorum: false });
    plain.campaign(n1);
    plain.isolate(n3);
    plain.tickAll(100);
    assert.ok(plain.raft(n3).term > t);
    plain.heal();
    plain.tickAll(30);
    assert.ok(plain.raft(n1).term > t, 'without pre-vote the old leader lost its term');
  });

  // Reference: Raft thesis §9.6 — a pre-election changes no persistent state: neither the
  // pre-candidate's term and vote nor those of the nodes it asks.
  test('pre-vote changes neither term nor vote, on the pre-candidate or the voter', () => {
    const c = newRaft(n1, { storage: storageWith([1], { hardState: { term: 1, vote: n2 } }) });
    c.step(msg({ type: 'hup', from: n1 }));
    assert.equal(c.role, 'preCandidate');
    assert.equal(c.term, 1);
    assert.equal(c.vote, n2);
    const asks = take(c);
    assert.deepEqual(
      asks.map((m) => [m.type, m.to, m.term, m.index, m.logTerm]),
      [
        ['preVote', n2, 2, 1, 1],
        ['preVote', n3, 2, 1, 1],
      ],
      'pre-votes carry the term the node would campaign in',
    );

    const v = newRaft(n2, { storage: storageWith([1], { hardState: { term: 1, vote: n3 } }) });
    v.step(asks[0]!);
    const [resp] = take(v);
    assert.deepEqual([resp?.type, resp?.term, resp?.reject], ['preVoteResp', 2, false]);
    assert.equal(v.term, 1, 'the voter did not adopt the pre-vote term');
    assert.equal(v.vote, n3, 'a pre-vote is granted even after voting in the current term, and records nothing');
  });

  // Reference: Raft thesis §9.6 with Raft §5.4.1 — a pre-vote is granted under the same
  // up-to-date rule as a real vote.
  test('a pre-vote is granted only to a log at least as up-to-date', () => {
    const cases: { lastIndex: number; lastTerm: number; granted: boolean }[] = [
      { lastIndex: 2, lastTerm: 1, granted: false },
      { lastIndex: 1, lastTerm: 2, granted: false },
      { lastIndex: 2, lastTerm: 2, granted: true },
      { lastIndex: 3, lastTerm: 2, granted: true },
      { lastIndex: 1, lastTerm: 3, granted: true },
    ];
    for (const c of cases) {
      const v = newRaft(n2, { storage: storageWith([1, 2], { hardState: { term: 2 } }) });
      v.step(msg({ type: 'preVote', from: n1, to: n2, term: 3, index: c.lastIndex, logTerm: c.lastTerm }));
      const [resp] = take(v);
      assert.equal(resp?.type, 'preVoteResp');
      assert.equal(resp?.reject, !c.granted, JSON.stringify(c));
      assert.equal(v.term, 2);
      assert.equal(v.vote, noNode);
    }
  });

  // Reference: Raft thesis §9.6 — only after a majority of pre-votes does the node increment its
  // term and start a normal election.
  test('a majority of pre-votes starts a real election in term+1; a majority of refusals ends it', () => {
    const won = newRaft(n1, { voters: [n1, n2, n3, n4, n5] });
    won.step(msg({ type: 'hup', from: n1 }));
    take(won);
    won.step(msg({ type: 'preVoteResp', from: n2, to: n1, term: 1 }));
    assert.equal(won.role, 'preCandidate', 'two of five is not a majority');
    won.step(msg({ type: 'preVoteResp', from: n3, to: n1, term: 1 }));
    assert.equal(won.role, 'candidate');
    assert.equal(won.term, 1);
    assert.equal(won.vote, n1);
    assert.equal(take(won).filter((m) => m.type === 'vote' && m.term === 1).length, 4);

    const lost = newRaft(n1, { storage: storageWith([], { hardState: { term: 4 } }) });
    lost.step(msg({ type: 'hup', from: n1 }));
    lost.step(msg({ type: 'preVoteResp', from: n2, to: n1, term: 4, reject: true }));
    lost.step(msg({ type: 'preVoteResp', from: n3, to: n1, term: 4, reject: true }));
    assert.equal(lost.role, 'follower');
    assert.equal(lost.term, 4);
  });

  // Reference: Raft thesis §9.6 — a node whose log is behind cannot get past the pre-election, so it
  // cannot force a term change on the cluster even with check-quorum off.
  test('a node with a stale log cannot win a pre-election after rejoining', () => {
    const net = new Network(ids(1, 2, 3), { checkQuorum: false });
    net.campaign(n1);
    net.isolate(n3);
    net.propose(n1, 'a');
    net.heal();
    net.cutLink(n1, n3); // n3 hears n2 only: n2 has the longer log
    const t = net.raft(n1).term;
    net.get(n3).node.campaign();
    net.settle();
    const answer = net.delivered.filter((m) => m.type === 'preVoteResp' && m.to === n3);
    assert.deepEqual(answer.map((m) => [m.from, m.reject]), [[n2, true]]);
    assert.equal(net.raft(n3).role, 'preCandidate', 'still waiting: it never reached candidate');
    assert.equal(net.raft(n3).term, t);
    assert.equal(net.raft(n2).term, t, 'n2 was not pushed into a new term');
    assert.equal(net.raft(n1).role, 'leader');
  });
});
