// Flow control of replication and proposals: probe and replicate states, the pipelining window, message
// size limits, the uncommitted-bytes budget, and where a proposal goes when this node is not the leader.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Message, type NodeId, type Raft, RaftError, entriesBytes } from '../../src/raft/index.ts';
import { Network, ids } from './network.ts';
import { forceLeader, msg, n1, n2, n3, newRaft, propose, take } from './helpers.ts';

function appsTo(ms: readonly Message[], to: NodeId): Message[] {
  return ms.filter((m) => m.type === 'app' && m.to === to);
}

function ack(r: Raft, from: NodeId, i: number): void {
  r.step(msg({ type: 'appResp', from, to: r.id, term: r.term, index: i }));
}

/** Assert that `fn` throws a RaftError with `code` (and return it for further checks). */
function throwsRaft(fn: () => void, code: RaftError['code']): RaftError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof RaftError, `expected RaftError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  return caught;
}

describe('replication flow control', () => {
  // Reference: Raft thesis §10.2.2 — the leader pipelines AppendEntries to a follower known to match,
  // bounded here by maxInflightMsgs; it stops when the window is full and refills it as acks arrive.
  test('in replicate state the leader pipelines up to maxInflightMsgs appends, then waits for acks', () => {
    const r = forceLeader(newRaft(n1, { maxInflightMsgs: 3 }));
    ack(r, n2, 1);
    ack(r, n3, 1);
    assert.equal(r.prs.get(n2)!.state, 'replicate');
    take(r);
    for (const d of ['a', 'b', 'c', 'd', 'e']) propose(r, d);
    const first = appsTo(take(r), n2);
    assert.deepEqual(
      first.map((m) => m.entries.map((e) => e.index)),
      [[2], [3], [4]],
      'three appends in flight, the fourth and fifth entries wait',
    );
    ack(r, n2, 2);
    const second = appsTo(take(r), n2);
    assert.deepEqual(
      second.map((m) => m.entries.map((e) => e.index)),
      [[5, 6]],
      'one freed slot: everything pending goes in one append',
    );
    ack(r, n2, 6);
    take(r); // the commit advanced: empty appends carry it
    propose(r, 'f');
    assert.deepEqual(appsTo(take(r), n2).map((m) => m.entries.map((e) => e.index)), [[7]]);
  });

  // Reference: Raft thesis §10.2.2 — the window also bounds bytes in flight (maxInflightBytes).
  test('the pipelining window is also bounded by maxInflightBytes', () => {
    const r = forceLeader(newRaft(n1, { maxInflightMsgs: 100, maxInflightBytes: 300, maxSizePerMsgBytes: 100 }));
    ack(r, n2, 1);
    take(r);
    for (let i = 0; i < 5; i++) propose(r, 'x'.repeat(100));
    assert.equal(appsTo(take(r), n2).length, 3, '300 bytes in flight fill the window');
  });

  // Reference: Raft §5.3 — "After a rejection, the leader decrements nextIndex and retries": while the
  // follower's position is unknown (probe), only one append is outstanding at a time.
  test('in probe state the leader sends one append at a time', () => {
    const r = forceLeader(newRaft(n1));
    assert.equal(r.prs.get(n2)!.state, 'probe');
    for (const d of ['a', 'b', 'c']) propose(r, d);
    assert.equal(appsTo(take(r), n2).length, 1, 'one probe outstanding');
    // A heartbeat answer shows the follower alive: probe again, one message.
    r.step(msg({ type: 'heartbeatResp', from: n2, to: n1, term: r.term }));
    const again = appsTo(take(r), n2);
    assert.equal(again.length, 1);
    // A rejection also allows exactly one new probe, further back.
    r.step(msg({ type: 'appResp', from: n2, to: n1, term: r.term, index: again[0]!.index, reject: true, rejectHint: 0 }));
    const back = appsTo(take(r), n2);
    assert.deepEqual(back.map((m) => m.index), [0]);
    // Success switches to replicate.
    ack(r, n2, r.log.lastIndex());
    assert.equal(r.prs.get(n2)!.state, 'replicate');
  });

  // Reference: Raft thesis §10.2.2 — batching is bounded: one append carries at most
  // maxSizePerMsgBytes of payload (but always at least one entry).
  test('maxSizePerMsgBytes splits a long catch-up into several appends', () => {
    const r = forceLeader(newRaft(n1, { maxSizePerMsgBytes: 250 }));
    for (let i = 0; i < 10; i++) propose(r, String(i).repeat(100));
    take(r);
    ack(r, n2, 1);
    const apps = appsTo(take(r), n2);
    assert.equal(apps.length, 5);
    for (const m of apps) assert.ok(entriesBytes(m.entries) <= 250, `${entriesBytes(m.entries)} bytes`);
    assert.deepEqual(
      apps.flatMap((m) => m.entries.map((e) => e.index)),
      [2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    );
    // A single entry larger than the limit still goes out, alone.
    const big = forceLeader(newRaft(n1, { maxSizePerMsgBytes: 10 }));
    ack(big, n2, 1);
    take(big);
    propose(big, 'y'.repeat(50));
    assert.deepEqual(appsTo(take(big), n2).map((m) => m.entries.length), [1]);
  });

  // Reference: Raft §5.3 — "the leader retries AppendEntries RPCs indefinitely": appends lost while
  // the pipelining window is full must not stall the follower forever; a heartbeat answer reopens it.
  test('a follower whose pipelined appends were all lost still catches up', () => {
    const net = new Network(ids(1, 2, 3), { maxInflightMsgs: 2 });
    net.campaign(n1);
    net.intercept = (m) => (m.type === 'app' && m.to === n3 ? undefined : m);
    for (const d of ['a', 'b', 'c', 'd']) net.propose(n1, d);
    assert.deepEqual(net.get(n3).applied, []);
    const pr = net.raft(n1).prs.get(n3)!;
    assert.deepEqual([pr.state, pr.isPaused()], ['replicate', true], 'the window is full of lost appends');
    net.intercept = undefined;
    net.tickAll(3);
    assert.deepEqual(net.get(n3).applied, ['a', 'b', 'c', 'd']);
  });
});

describe('proposal admission', () => {
  // Reference: Raft thesis §10.2.2 (bounded batching) — the leader holds at most maxUncommittedBytes of
  // uncommitted payload; past it proposals are refused with UNCOMMITTED_FULL, never queued, and are
  // accepted again once entries commit and are applied.
  test('proposals beyond maxUncommittedBytes throw UNCOMMITTED_FULL until entries commit', () => {
    const net = new Network(ids(1, 2, 3), { maxUncommittedBytes: 100, maxEntryBytes: 100 });
    net.campaign(n1);
    net.isolate(n1);
    net.propose(n1, 'a'.repeat(60));
    net.propose(n1, 'b'.repeat(40)); // exactly at the budget
    throwsRaft(() => net.propose(n1, 'c'), 'UNCOMMITTED_FULL');
    net.heal();
    net.tick(n1); // heartbeat, answers, catch-up appends: both entries commit and are applied
    assert.deepEqual(net.get(n1).applied, ['a'.repeat(60), 'b'.repeat(40)]);
    net.propose(n1, 'c'.repeat(100));
    assert.equal(net.get(n1).applied.length, 3);
  });

  // Reference: Raft thesis §10.2.2 — a budget never blocks progress: with nothing uncommitted, one
  // proposal is admitted even if it alone exceeds maxUncommittedBytes; but a single entry beyond
  // maxEntryBytes is refused with PROPOSAL_TOO_LARGE.
  test('an entry larger than maxEntryBytes throws PROPOSAL_TOO_LARGE', () => {
    const r = forceLeader(newRaft(n1, { maxEntryBytes: 10, maxUncommittedBytes: 10 }));
    ack(r, n2, 1);
    propose(r, 'x'.repeat(10));
    const last = r.log.lastIndex();
    throwsRaft(() => propose(r, 'x'.repeat(11)), 'PROPOSAL_TOO_LARGE');
    assert.equal(r.log.lastIndex(), last, 'nothing appended');
  });

  // Reference: Raft §8 / thesis §6.2 — "If a client contacts a follower, the follower ... routes the
  // request to the leader."
  test('a proposal on a follower is forwarded to the leader and applied everywhere', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.propose(n3, 'via-n3');
    const forwarded = net.delivered.filter((m) => m.type === 'prop');
    assert.deepEqual(forwarded.map((m) => [m.from, m.to]), [[n3, n1]]);
    for (const id of ids(1, 2, 3)) assert.deepEqual(net.get(id).applied, ['via-n3']);
  });

  // Reference: Raft thesis §6.2 — with no leader known, or forwarding disabled, the node cannot take
  // the proposal: the client gets an error (with the leader's address when it is known).
  test('without a leader, or with forwarding disabled, a proposal throws', () => {
    const fresh = new Network(ids(1, 2, 3));
    throwsRaft(() => fresh.propose(n2, 'x'), 'PROPOSAL_DROPPED');
    const candidate = newRaft(n1, { preVote: false });
    candidate.step(msg({ type: 'hup', from: n1 }));
    throwsRaft(() => propose(candidate, 'x'), 'PROPOSAL_DROPPED');

    const net = new Network(ids(1, 2, 3), { disableProposalForwarding: true });
    net.campaign(n1);
    const e = throwsRaft(() => net.propose(n2, 'x'), 'NOT_LEADER');
    assert.equal(e.leaderHint, n1);
    net.propose(n1, 'y');
    assert.deepEqual(net.get(n2).applied, ['y']);
  });

  // Reference: Raft thesis §6.2 — a forwarded proposal the leader cannot take is dropped there; the
  // follower that forwarded it is not affected (its client retries on timeout).
  test('a forwarded proposal refused by the leader is dropped without harming the follower', () => {
    const net = new Network(ids(1, 2, 3), { maxEntryBytes: 4, maxUncommittedBytes: 4 });
    net.campaign(n1);
    net.propose(n2, 'toolong');
    net.propose(n2, 'ok');
    for (const id of ids(1, 2, 3)) assert.deepEqual(net.get(id).applied, ['ok']);
  });
});
