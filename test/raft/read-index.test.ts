// Linearizable reads with ReadIndex (Raft thesis §6.4): a read point is released only after a quorum confirms
// the leader still leads, and never before the leader has committed an entry of its own term.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type Raft, isRaftError, message } from '../../src/raft/index.ts';
import { Network, ids } from './network.ts';
import { ackAll, bytes, forceLeader, msg, n1, n2, n3, n4, n5, newRaft, take, text } from './helpers.ts';

function readIndex(r: Raft, ctx: string): void {
  r.step(message({ type: 'readIndex', from: r.id, context: bytes(ctx) }));
}

function reads(r: Raft): [number, string][] {
  const out = r.readStates.map((s): [number, string] => [s.index, text(s.context)]);
  r.readStates = [];
  return out;
}

function heartbeatAck(r: Raft, from: typeof n1, ctx: string): void {
  r.step(msg({ type: 'heartbeatResp', from, to: r.id, term: r.term, context: bytes(ctx) }));
}

describe('Raft thesis §6.4 ReadIndex', () => {
  // Reference: Raft thesis §6.4 — the leader records its commit index as the read index, then "sends a
  // new round of heartbeats and waits for their acknowledgments from a majority of the cluster";
  // only then is the read point released.
  test('the leader releases a read at its commit index once a quorum acknowledged the heartbeat round', () => {
    const r = forceLeader(newRaft(n1, { voters: [n1, n2, n3, n4, n5] }));
    ackAll(r, [n2, n3]);
    assert.equal(r.log.committed, 1);
    take(r);
    readIndex(r, 'r1');
    const beats = take(r).filter((m) => m.type === 'heartbeat');
    assert.deepEqual(beats.map((m) => [m.to, text(m.context ?? new Uint8Array())]), [
      [n2, 'r1'],
      [n3, 'r1'],
      [n4, 'r1'],
      [n5, 'r1'],
    ]);
    assert.deepEqual(reads(r), []);
    r.step(msg({ type: 'heartbeatResp', from: n2, to: n1, term: r.term })); // a plain heartbeat answer confirms nothing
    heartbeatAck(r, n2, 'r1');
    assert.deepEqual(reads(r), [], 'two of five');
    heartbeatAck(r, n3, 'r1');
    assert.deepEqual(reads(r), [[1, 'r1']], 'three of five: released at the commit index of the request');
    heartbeatAck(r, n4, 'r1');
    assert.deepEqual(reads(r), [], 'released once');
  });

  // Reference: Raft thesis §6.4 — confirming leadership for a later read also confirms every earlier one.
  test('an acknowledged later read releases the earlier ones, in order', () => {
    const r = forceLeader(newRaft(n1));
    ackAll(r, [n2, n3]);
    readIndex(r, 'a');
    readIndex(r, 'b');
    heartbeatAck(r, n2, 'b');
    assert.deepEqual(reads(r), [
      [1, 'a'],
      [1, 'b'],
    ]);
  });

  // Reference: Raft thesis §6.4 — "a leader ... could be deposed without knowing": the heartbeat round
  // is what makes the read safe, so a leader cut off from its quorum never answers, even while it still
  // believes it leads and the new leader commits newer writes.
  test('a deposed leader that does not know it never yields a read', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.isolate(n1);
    net.readIndex(n1, 'stale');
    for (let i = 0; i < 60 && net.raft(n2).role !== 'leader' && net.raft(n3).role !== 'leader'; i++) {
      net.tick(n2);
      net.tick(n3);
      if (i < 5) net.tick(n1);
    }
    const newLeader = net.raft(n2).role === 'leader' ? n2 : n3;
    net.propose(newLeader, 'w');
    assert.equal(net.raft(n1).role, 'leader', 'n1 still believes it leads');
    assert.deepEqual(net.get(n1).readStates, []);
    net.tick(n1, 30); // check-quorum deposes it
    net.heal();
    net.tickAll(5);
    assert.deepEqual(net.get(n1).readStates, [], 'the stale read is dropped, never answered');
    // A fresh read through n1 now reflects the new write.
    net.readIndex(n1, 'fresh');
    const [fresh] = net.get(n1).readStates;
    assert.ok(fresh && fresh.index >= net.raft(newLeader).log.committed);
  });

  // Reference: Raft thesis §6.4 — "Followers could also help offload the processing of read-only
  // queries": a follower asks the leader for a read index and serves the read once it applied that far.
  test("a follower's read is forwarded to the leader and answered", () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.propose(n1, 'x');
    net.readIndex(n2, 'f');
    assert.deepEqual(
      net.delivered.filter((m) => m.type === 'readIndex' || m.type === 'readIndexResp').map((m) => [m.type, m.from, m.to]),
      [
        ['readIndex', n2, n1],
        ['readIndexResp', n1, n2],
      ],
    );
    assert.deepEqual(net.get(n2).readStates.map((s) => [s.index, text(s.context)]), [[net.raft(n1).log.committed, 'f']]);
    assert.deepEqual(net.get(n1).readStates, []);
  });

  // Reference: Raft thesis §6.4 — "If the leader has not yet marked an entry from its current term
  // committed, it waits until it has done so": until then its commit index may be stale.
  test('reads arriving before the leader committed an entry of its term wait for that commit', () => {
    const r = forceLeader(newRaft(n1));
    assert.equal(r.log.committed, 0);
    readIndex(r, 'early');
    assert.deepEqual(take(r).filter((m) => m.type === 'heartbeat'), [], 'no confirmation round yet');
    r.step(msg({ type: 'heartbeatResp', from: n2, to: n1, term: r.term, context: bytes('early') }));
    assert.deepEqual(reads(r), []);
    ackAll(r, [n2]);
    assert.equal(r.log.committed, 1);
    const beats = take(r).filter((m) => m.type === 'heartbeat' && text(m.context ?? new Uint8Array()) === 'early');
    assert.equal(beats.length, 2, 'the confirmation round starts once the no-op commits');
    heartbeatAck(r, n3, 'early');
    assert.deepEqual(reads(r), [[1, 'early']]);
  });

  // Reference: Raft thesis §6.4 — a single-server group is its own quorum: the read is answered at once.
  test('a single-node group answers a read at once', () => {
    const r = forceLeader(newRaft(n1, { voters: [n1] }));
    assert.equal(r.log.committed, 1);
    readIndex(r, 'solo');
    assert.deepEqual(reads(r), [[1, 'solo']]);
    assert.deepEqual(take(r), []);
  });

  // Reference: Raft thesis §6.4 — with no leader to ask, a read cannot be served; pending reads are
  // bounded (readIndexPendingMax) and refused past the bound.
  test('reads without a leader, or beyond readIndexPendingMax, are refused', () => {
    const lone = newRaft(n2);
    const err = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        return isRaftError(e) ? e.code : String(e);
      }
      return undefined;
    };
    assert.equal(err(() => readIndex(lone, 'x')), 'PROPOSAL_DROPPED');
    const r = forceLeader(newRaft(n1, { readIndexPendingMax: 2 }));
    ackAll(r, [n2, n3]);
    readIndex(r, 'a');
    readIndex(r, 'b');
    assert.equal(err(() => readIndex(r, 'c')), 'READS_FULL');
  });
});
