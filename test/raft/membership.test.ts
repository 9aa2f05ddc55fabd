// Membership changes (Raft §6, thesis §4: one server at a time, learners of §4.2.1, leader removal of §4.2.2).
// The test network applies committed conf entries the way a driver does: applyConfChange, then setConfState.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ConfChange, MemoryStorage, type NodeId, isRaftError } from '../../src/raft/index.ts';
import { RawNode } from '../../src/raft/raw-node.ts';
import { Network, ids } from './network.ts';
import { ackAll, forceLeader, msg, n1, n2, n3, n4, n5, newRaft, persistAndApply } from './helpers.ts';

function refusal(fn: () => void): string | undefined {
  try {
    fn();
  } catch (e) {
    if (!isRaftError(e)) throw e;
    return e.code;
  }
  return undefined;
}

/** A bootstrapped three-node group led by n1, with n4 started empty and added as a learner. */
function groupWithLearner(overrides = {}): Network {
  const net = Network.bootstrapped(ids(1, 2, 3), overrides);
  net.campaign(n1);
  net.propose(n1, 'a');
  net.addNode(n4);
  net.proposeConfChange(n1, { type: 'addLearner', node: n4 });
  net.tick(n1); // the next heartbeat finds the new member and starts its catch-up
  return net;
}

function confOf(net: Network, id: NodeId) {
  return net.raft(id).confState();
}

describe('Raft §6 / thesis §4 membership changes', () => {
  // Reference: Raft thesis §4.2.1 — "new servers join the cluster as non-voting members (the leader
  // replicates log entries to them, but they are not considered for majorities)."
  test('a learner receives the log but is not counted for commit and never campaigns', () => {
    const net = groupWithLearner();
    for (const id of ids(1, 2, 3, 4)) {
      assert.deepEqual(confOf(net, id), { voters: [n1, n2, n3], learners: [n4] }, id);
      assert.deepEqual(net.get(id).storage.initialState().confState, confOf(net, id), `${id} persisted its membership`);
    }
    assert.deepEqual(net.get(n4).applied, ['a']);

    // Not counted: with n2 and n3 unreachable, n1 and the learner are not a majority.
    net.cutLink(n1, n2);
    net.cutLink(n1, n3);
    const commit = net.raft(n1).log.committed;
    net.propose(n1, 'b');
    assert.equal(net.raft(n4).log.lastIndex(), net.raft(n1).log.lastIndex(), 'the learner stores b');
    assert.equal(net.raft(n1).log.committed, commit, 'b is not committed');
    net.heal();

    // Never campaigns, even when the leader is gone for long.
    net.isolate(n1);
    net.isolate(n4);
    net.tick(n4, 100);
    assert.equal(net.raft(n4).role, 'follower');
    assert.deepEqual(
      net.delivered.filter((m) => m.from === n4 && (m.type === 'vote' || m.type === 'preVote')),
      [],
    );
  });

  // Reference: Raft thesis §4.2.1 — learners' acknowledgements are not counted: two learners that hold
  // an entry do not make a majority with the leader of three voters.
  test("learners' acknowledgements never commit an entry", () => {
    const r = forceLeader(newRaft(n1, { voters: [n1, n2, n3], learners: [n4, n5] }));
    ackAll(r, [n4, n5]);
    assert.equal(r.log.committed, 0, 'leader plus two learners');
    ackAll(r, [n2]);
    assert.equal(r.log.committed, 1, 'leader plus one voter');
  });

  // Reference: Raft thesis §4.2.1 — learners have no vote: candidates do not ask them and a learner's
  // grant does not count toward a majority.
  test('a learner has no vote in elections', () => {
    const r = newRaft(n1, { voters: [n1, n2, n3], learners: [n4], preVote: false });
    r.step(msg({ type: 'hup', from: n1 }));
    assert.deepEqual(
      r.msgs.filter((m) => m.type === 'vote').map((m) => m.to),
      [n2, n3],
      'no vote request to the learner',
    );
    r.step(msg({ type: 'voteResp', from: n4, to: n1, term: 1 }));
    assert.equal(r.role, 'candidate', "the learner's grant does not make a majority");
    r.step(msg({ type: 'voteResp', from: n2, to: n1, term: 1 }));
    assert.equal(r.role, 'leader');
  });

  // Reference: Raft thesis §4.2.1 — once the new server has caught up it is promoted to a voting member,
  // and from then on it counts toward majorities.
  test('a caught-up learner is promoted to voter and then counts for commit', () => {
    const net = groupWithLearner();
    net.proposeConfChange(n1, { type: 'addNode', node: n4 });
    for (const id of ids(1, 2, 3, 4)) assert.deepEqual(confOf(net, id), { voters: [n1, n2, n3, n4], learners: [] }, id);
    assert.equal(net.raft(n4).promotable(), true);
    // Four voters: a majority is three. n1, n2 and n4 commit without n3.
    net.isolate(n3);
    net.propose(n1, 'b');
    assert.deepEqual(net.get(n4).applied, ['a', 'b']);
    // n1 and n2 alone cannot.
    net.heal();
    net.isolate(n3);
    net.isolate(n4);
    const commit = net.raft(n1).log.committed;
    net.propose(n1, 'c');
    assert.equal(net.raft(n1).log.committed, commit);
  });

  // Reference: Raft thesis §4.2.1 — "the leader should ... not add a server until it has caught up";
  // a learner too far behind (learnerCatchUpEntriesMax) is refused promotion with LEARNER_NOT_CAUGHT_UP.
  test('promoting a lagging learner is refused until it catches up', () => {
    const net = groupWithLearner({ learnerCatchUpEntriesMax: 2 });
    net.isolate(n4);
    for (const d of ['b', 'c', 'd', 'e']) net.propose(n1, d);
    assert.equal(refusal(() => net.proposeConfChange(n1, { type: 'addNode', node: n4 })), 'LEARNER_NOT_CAUGHT_UP');
    assert.deepEqual(confOf(net, n1).learners, [n4]);
    net.heal();
    net.tick(n1);
    net.proposeConfChange(n1, { type: 'addNode', node: n4 });
    assert.deepEqual(confOf(net, n2).voters, [n1, n2, n3, n4]);
  });

  // Reference: Raft thesis §4.1 — "the leader does not allow a new configuration change until the
  // previous one has been committed" (here: applied); a second one is refused with CONF_CHANGE_PENDING.
  test('only one membership change is pending at a time', () => {
    const net = Network.bootstrapped(ids(1, 2, 3));
    net.campaign(n1);
    net.cutLink(n1, n2);
    net.cutLink(n1, n3);
    net.proposeConfChange(n1, { type: 'addLearner', node: n4 });
    assert.equal(refusal(() => net.proposeConfChange(n1, { type: 'addLearner', node: n5 })), 'CONF_CHANGE_PENDING');
    net.heal();
    net.tick(n1);
    assert.deepEqual(confOf(net, n1).learners, [n4]);
    net.proposeConfChange(n1, { type: 'addLearner', node: n5 });
    assert.deepEqual(confOf(net, n1).learners, [n4, n5]);
  });

  // Reference: Raft thesis §4.1 (and Ongaro's 2015 correction to single-server changes) — a new leader
  // may not change membership until an entry of its own term is committed and applied.
  test('a new leader cannot propose a membership change before its no-op is applied', () => {
    const storage = new MemoryStorage({ voters: [n1, n2, n3], learners: [] });
    const node = new RawNode(newRaft(n1, { storage }));
    const r = forceLeader(node.raft);
    const cc: ConfChange = { type: 'addLearner', node: n4 };
    assert.equal(refusal(() => node.proposeConfChange(cc)), 'CONF_CHANGE_PENDING');
    ackAll(r, [n2, n3]);
    assert.equal(r.log.committed, 1);
    assert.equal(refusal(() => node.proposeConfChange(cc)), 'CONF_CHANGE_PENDING', 'committed but not applied');
    persistAndApply(r, storage);
    node.proposeConfChange(cc);
    assert.equal(r.log.lastIndex(), 2);
  });

  // Reference: Raft thesis §4.1 — membership changes must make sense: no duplicate member, no demotion,
  // no removal of a non-member or of the last voter.
  test('meaningless membership changes are refused with CONF_CHANGE_INVALID', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    const cases: ConfChange[] = [
      { type: 'addNode', node: n2 },
      { type: 'addLearner', node: n2 },
      { type: 'removeNode', node: n5 },
    ];
    for (const cc of cases) assert.equal(refusal(() => net.proposeConfChange(n1, cc)), 'CONF_CHANGE_INVALID', JSON.stringify(cc));
    const single = new Network(ids(1));
    single.campaign(n1);
    assert.equal(refusal(() => single.proposeConfChange(n1, { type: 'removeNode', node: n1 })), 'CONF_CHANGE_INVALID');
  });

  // Reference: Raft §6 / thesis §4.1 — removing a server shrinks the majority: after the removal the
  // remaining voters commit with fewer acknowledgements.
  test('removing a follower shrinks the quorum', () => {
    const net = new Network(ids(1, 2, 3, 4));
    net.campaign(n1);
    net.cutLink(n1, n3);
    net.cutLink(n1, n4);
    const before = net.raft(n1).log.committed;
    net.propose(n1, 'x');
    assert.equal(net.raft(n1).log.committed, before, 'two of four cannot commit');
    net.heal();
    net.tick(n1);
    net.proposeConfChange(n1, { type: 'removeNode', node: n4 });
    for (const id of ids(1, 2, 3)) assert.deepEqual(confOf(net, id).voters, [n1, n2, n3], id);
    net.cutLink(n1, n3);
    net.isolate(n4);
    net.propose(n1, 'y');
    assert.deepEqual(net.get(n2).applied, ['x', 'y'], 'two of three commit');
  });

  // Reference: Raft thesis §4.2.2 — "the leader steps down once the configuration that removes it is
  // committed"; another server then leads (here at once: the leader hands off with timeoutNow) and the
  // group keeps committing.
  test('a leader that removes itself steps down and another node leads and commits', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.propose(n1, 'a');
    net.proposeConfChange(n1, { type: 'removeNode', node: n1 });
    assert.notEqual(net.raft(n1).role, 'leader');
    // The hand-off replaces an election: a successor leads within a tick, long before any election
    // timeout (10 ticks, plus the lease) could elect one.
    if (net.leaders().length === 0) net.tickAll();
    const [leader, ...others] = net.leaders();
    assert.ok(leader === n2 || leader === n3, `new leader ${leader}`);
    assert.deepEqual(others, []);
    assert.deepEqual(confOf(net, leader).voters, [n2, n3]);
    net.propose(leader, 'b');
    assert.deepEqual(net.get(n2).applied, ['a', 'b']);
    assert.deepEqual(net.get(n3).applied, ['a', 'b']);
    assert.deepEqual(net.get(n1).applied, ['a']);
  });

  // Reference: Raft thesis §4.2.2 — a removed server is no longer part of the group: once it has
  // applied its removal it never starts an election.
  test('a removed node cannot campaign', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.proposeConfChange(n1, { type: 'removeNode', node: n3 });
    assert.deepEqual(confOf(net, n3).voters, [n1, n2], 'n3 applied its own removal');
    const t = net.raft(n3).term;
    net.isolate(n3);
    net.tick(n3, 100);
    net.get(n3).node.campaign();
    net.settle();
    assert.equal(net.raft(n3).role, 'follower');
    assert.equal(net.raft(n3).term, t);
  });

  // Reference: Raft thesis §4.2.3 — a removed server that never learned of its removal times out and
  // campaigns, but pre-vote and the lease keep it from disrupting the group.
  test('a removed node that missed its removal does not disrupt the group', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.isolate(n3);
    net.proposeConfChange(n1, { type: 'removeNode', node: n3 });
    assert.deepEqual(confOf(net, n1).voters, [n1, n2]);
    net.tick(n3, 50);
    net.heal();
    net.tickAll(50);
    assert.deepEqual(net.leaders(), [n1]);
    assert.equal(net.raft(n1).term, 1);
    net.propose(n1, 'x');
    assert.deepEqual(net.get(n2).applied, ['x']);
  });
});
