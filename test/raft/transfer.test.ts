// Leadership transfer (Raft thesis §3.10): the leader brings the target up to date, then tells it to campaign
// at once; the transfer blocks proposals and is abandoned after an election timeout.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type NodeId, isRaftError, noNode } from '../../src/raft/index.ts';
import { Network, ids } from './network.ts';
import { ackAll, forceLeader, msg, n1, n2, n3, n4, newRaft, propose, take, text } from './helpers.ts';

function refusal(fn: () => void): { code: string; hint: string | undefined } | undefined {
  try {
    fn();
  } catch (e) {
    if (!isRaftError(e)) throw e;
    return { code: e.code, hint: e.leaderHint };
  }
  return undefined;
}

function started(net: Network, from: number) {
  return net.delivered.slice(from);
}

describe('Raft thesis §3.10 leadership transfer', () => {
  // Reference: Raft thesis §3.10 — "the prior leader sends a TimeoutNow request to the target server
  // ... the target server will then start an election with a higher term" and, its log being complete,
  // win it. The vote it asks for is marked so that followers in their lease grant it.
  test('transfer to an up-to-date follower makes it leader in the next term', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.propose(n1, 'a');
    const from = net.delivered.length;
    net.transferLeadership(n1, n2);
    assert.deepEqual(net.leaders(), [n2]);
    assert.equal(net.raft(n2).term, 2);
    assert.equal(net.raft(n1).lead, n2);
    const msgs = started(net, from);
    assert.equal(msgs.find((m) => m.type === 'timeoutNow')?.to, n2);
    assert.deepEqual(msgs.filter((m) => m.type === 'preVote'), [], 'no pre-vote: the transfer is a deliberate election');
    const votes = msgs.filter((m) => m.type === 'vote');
    assert.ok(votes.length > 0 && votes.every((m) => text(m.context ?? new Uint8Array()) === 'transfer'));
    net.propose(n2, 'b');
    assert.deepEqual(net.get(n1).applied, ['a', 'b']);
  });

  // Reference: Raft thesis §3.10 — a transfer may be requested anywhere: a follower forwards it to the
  // leader.
  test('a transfer requested on a follower is forwarded to the leader', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.transferLeadership(n3, n2);
    assert.deepEqual(net.leaders(), [n2]);
  });

  // Reference: Raft thesis §3.10 — "The prior leader ... brings the target server's log up to date"
  // before sending TimeoutNow.
  test('transfer to a lagging follower first catches it up', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.isolate(n3);
    net.propose(n1, 'a');
    net.propose(n1, 'b');
    net.heal();
    const from = net.delivered.length;
    net.transferLeadership(n1, n3);
    const msgs = started(net, from).filter((m) => m.to === n3);
    const timeoutAt = msgs.findIndex((m) => m.type === 'timeoutNow');
    const catchUp = msgs.findIndex((m) => m.type === 'app' && m.entries.some((e) => text(e.data) === 'b'));
    assert.ok(catchUp >= 0 && timeoutAt > catchUp, 'entries first, TimeoutNow after');
    assert.deepEqual(net.leaders(), [n3]);
    assert.deepEqual(net.get(n3).applied, ['a', 'b']);
  });

  // Reference: Raft thesis §3.10 — "During this time, the prior leader stops accepting new client
  // requests"; the refusal names the transfer target.
  test('proposals during a transfer are refused with PROPOSAL_DROPPED', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.isolate(n3);
    net.propose(n1, 'a');
    net.transferLeadership(n1, n3);
    assert.equal(net.raft(n1).leadTransferee, n3);
    assert.deepEqual(refusal(() => net.propose(n1, 'b')), { code: 'PROPOSAL_DROPPED', hint: n3 });
  });

  // Reference: Raft thesis §3.10 — "If the transfer does not complete within an election timeout, the
  // prior leader aborts the transfer and resumes accepting client requests."
  test('a transfer to an unreachable target is aborted after an election timeout', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.isolate(n3);
    net.transferLeadership(n1, n3);
    net.tick(n1, 9);
    assert.equal(net.raft(n1).leadTransferee, n3, 'still trying');
    net.tick(n1);
    assert.equal(net.raft(n1).leadTransferee, noNode);
    assert.equal(net.raft(n1).role, 'leader');
    net.propose(n1, 'after');
    assert.deepEqual(net.get(n2).applied, ['after']);
  });

  // Reference: Raft thesis §3.10 with §4.1 — a target that gets TimeoutNow while a committed membership
  // change is still unapplied may not campaign yet (its configuration is about to change); it campaigns
  // as soon as the change is applied, so the transfer still completes well within its timeout.
  test('a transfer racing a membership change completes once the change is applied', () => {
    const net = Network.bootstrapped(ids(1, 2, 3));
    net.campaign(n1);
    net.addNode(n4);
    const leader = net.get(n1).node;
    leader.proposeConfChange({ type: 'addLearner', node: n4 });
    leader.transferLeadership(n2);
    net.settle();
    const timeoutNow = net.delivered.filter((m) => m.type === 'timeoutNow');
    assert.deepEqual(timeoutNow.map((m) => m.to), [n2], 'TimeoutNow arrived with the commit, before the apply');
    assert.deepEqual(net.leaders(), [n1]);
    assert.deepEqual(net.raft(n2).confState().learners, [n4]);
    net.tickAll();
    assert.deepEqual(net.leaders(), [n2]);
    assert.equal(net.raft(n2).term, 3);
  });

  // Reference: Raft thesis §3.10 — the target must be a voter other than the leader: a transfer to
  // itself, to a learner or to a stranger is ignored.
  test('transfer to self, to a learner or to a non-member is ignored', () => {
    for (const target of [n1, n4, ids(9)[0]!] as NodeId[]) {
      const r = forceLeader(newRaft(n1, { voters: [n1, n2, n3], learners: [n4] }));
      ackAll(r, [n2, n3, n4]);
      take(r);
      r.step(msg({ type: 'transferLeader', from: target, to: n1 }));
      assert.equal(r.leadTransferee, noNode, target);
      assert.deepEqual(take(r).filter((m) => m.type === 'timeoutNow'), [], target);
      propose(r, 'still accepted');
      assert.equal(r.role, 'leader');
    }
  });
});
