// Units of the leader's per-follower bookkeeping (Raft §5.3 nextIndex/matchIndex): Progress states, the
// Inflights window, the quorum commit index and the vote tally.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionFailure } from '../../src/raft/assert.ts';
import { Inflights, Progress, quorumCommitIndex, tallyVotes } from '../../src/raft/progress.ts';
import { index } from '../../src/raft/index.ts';

const i = index;

function progress(state: 'probe' | 'replicate', match: number, next: number, inflight = 256): Progress {
  const p = new Progress(i(next), new Inflights(inflight, 0), false);
  p.match = i(match);
  if (state === 'replicate') {
    p.becomeReplicate();
    p.next = i(next);
  }
  return p;
}

describe('Inflights', () => {
  // Reference: Raft thesis §10.2.2 — the pipelining window: bounded by count and bytes, freed by acks.
  test('the window fills by count or bytes and frees up to an acknowledged index', () => {
    const w = new Inflights(3, 0);
    w.add(i(2), 10);
    w.add(i(4), 10);
    assert.equal(w.full(), false);
    w.add(i(7), 10);
    assert.equal(w.full(), true);
    assert.throws(() => w.add(i(8), 1), AssertionFailure);
    w.freeLE(i(4));
    assert.equal(w.count(), 1);
    w.freeLE(i(3)); // nothing at or below 3 left
    assert.equal(w.count(), 1);
    w.freeLE(i(100));
    assert.equal(w.count(), 0);

    const bytes = new Inflights(100, 25);
    bytes.add(i(1), 10);
    bytes.add(i(2), 10);
    assert.equal(bytes.full(), false);
    bytes.add(i(3), 10);
    assert.equal(bytes.full(), true, '30 bytes >= 25');
    bytes.freeLE(i(1));
    assert.equal(bytes.full(), false);
    assert.throws(() => bytes.add(i(2), 1), AssertionFailure, 'indexes must ascend');
  });
});

describe('Progress', () => {
  // Reference: Raft §5.3 — "When a leader first comes to power, it initializes all nextIndex values to the
  // index just after the last one in its log"; an acknowledgement raises matchIndex and nextIndex.
  test('maybeUpdate raises match and next, never lowers them', () => {
    const p = progress('probe', 3, 5);
    assert.equal(p.maybeUpdate(i(2)), false);
    assert.deepEqual([p.match, p.next], [3, 5]);
    assert.equal(p.maybeUpdate(i(4)), true);
    assert.deepEqual([p.match, p.next], [4, 5]);
    assert.equal(p.maybeUpdate(i(6)), true);
    assert.deepEqual([p.match, p.next], [6, 7]);
  });

  // Reference: Raft §5.3 — "After a rejection, the leader decrements nextIndex and retries"; with the
  // fast back-off hint it jumps to the follower's hint, never below match+1, and ignores stale rejections.
  test('maybeDecrTo backs off next in probe, resets to match+1 in replicate, and ignores stale rejections', () => {
    const cases: { state: 'probe' | 'replicate'; match: number; next: number; rejected: number; hint: number; ok: boolean; next2: number }[] = [
      // replicate: a rejection at or below match is stale
      { state: 'replicate', match: 5, next: 10, rejected: 5, hint: 5, ok: false, next2: 10 },
      { state: 'replicate', match: 5, next: 10, rejected: 4, hint: 4, ok: false, next2: 10 },
      { state: 'replicate', match: 5, next: 10, rejected: 9, hint: 9, ok: true, next2: 6 },
      // probe: only a rejection of the outstanding probe (next-1) counts
      { state: 'probe', match: 0, next: 10, rejected: 8, hint: 2, ok: false, next2: 10 },
      { state: 'probe', match: 0, next: 10, rejected: 9, hint: 2, ok: true, next2: 3 },
      { state: 'probe', match: 0, next: 10, rejected: 9, hint: 20, ok: true, next2: 9 },
      { state: 'probe', match: 4, next: 10, rejected: 9, hint: 1, ok: true, next2: 5 },
      { state: 'probe', match: 0, next: 1, rejected: 0, hint: 0, ok: true, next2: 1 },
    ];
    for (const c of cases) {
      const p = progress(c.state, c.match, c.next);
      p.probeSent = true;
      assert.equal(p.maybeDecrTo(i(c.rejected), i(c.hint)), c.ok, JSON.stringify(c));
      assert.equal(p.next, c.next2, JSON.stringify(c));
      if (c.ok && c.state === 'probe') assert.equal(p.probeSent, false, 'a counted rejection unpauses the probe');
    }
  });

  // Reference: Raft §5.3 — probe sends one append and waits; replicate pipelines until the window is
  // full; snapshot sends nothing until the snapshot is acknowledged (Raft §7).
  test('isPaused follows the state: one probe, a full window, or a snapshot in flight', () => {
    const probe = progress('probe', 0, 1);
    assert.equal(probe.isPaused(), false);
    probe.sentEntries(i(3), 3, 30);
    assert.equal(probe.isPaused(), true);
    assert.equal(probe.next, 1, 'probe does not move next optimistically');
    probe.maybeUpdate(i(3));
    assert.equal(probe.isPaused(), false);

    const rep = progress('replicate', 1, 2, 2);
    rep.sentEntries(i(3), 2, 20);
    assert.equal(rep.next, 4, 'replicate moves next optimistically');
    rep.sentEntries(i(3), 0, 0); // an empty append takes no slot
    assert.equal(rep.isPaused(), false);
    rep.sentEntries(i(5), 2, 20);
    assert.equal(rep.isPaused(), true);
    rep.inflights.freeLE(i(3));
    assert.equal(rep.isPaused(), false);

    const snap = progress('probe', 2, 3);
    snap.becomeSnapshot(i(50));
    assert.equal(snap.isPaused(), true);
    snap.maybeUpdate(i(50));
    snap.becomeProbe();
    assert.deepEqual([snap.state, snap.next], ['probe', 51]);
  });

  // Reference: Raft §7 — after a snapshot is sent (successfully or not), probing resumes past it.
  test('becomeProbe after a snapshot resumes after the snapshot or the match', () => {
    const p = progress('probe', 3, 4);
    p.becomeSnapshot(i(20));
    p.becomeProbe();
    assert.deepEqual([p.state, p.next], ['probe', 21]);
    const q = progress('replicate', 7, 12);
    q.becomeProbe();
    assert.deepEqual([q.state, q.next], ['probe', 8]);
  });
});

describe('quorum arithmetic', () => {
  // Reference: Raft §5.3 — "a log entry is committed once the leader ... has replicated it on a majority":
  // the largest index held by a majority of voters.
  test('quorumCommitIndex is the highest index stored by a majority', () => {
    const cases: [number[], number][] = [
      [[], 0],
      [[5], 5],
      [[5, 1], 1],
      [[5, 4, 1], 4],
      [[1, 5, 4], 4],
      [[5, 5, 4, 1], 4],
      [[7, 2, 9, 3, 5], 5],
      [[0, 0, 9, 9, 0], 0],
    ];
    for (const [matches, want] of cases) assert.equal(quorumCommitIndex(matches.map(i)), want, `${matches}`);
  });

  // Reference: Raft §5.2 — a candidate wins with a majority of votes and loses with a majority of refusals;
  // votes of non-voters do not count.
  test('tallyVotes: majority wins, majority of refusals loses, the rest is pending', () => {
    const v = (entries: [string, boolean][]) => new Map(entries);
    const cases: [string[], Map<string, boolean>, string][] = [
      [['a'], v([['a', true]]), 'won'],
      [['a', 'b', 'c'], v([['a', true]]), 'pending'],
      [['a', 'b', 'c'], v([['a', true], ['b', true]]), 'won'],
      [['a', 'b', 'c'], v([['a', true], ['b', false]]), 'pending'],
      [['a', 'b', 'c'], v([['a', true], ['b', false], ['c', false]]), 'lost'],
      [['a', 'b', 'c', 'd'], v([['a', true], ['b', true]]), 'pending'],
      [['a', 'b', 'c', 'd'], v([['a', true], ['b', false], ['c', false], ['d', true]]), 'pending'],
      [['a', 'b', 'c'], v([['a', true], ['x', true], ['y', true]]), 'pending'],
    ];
    for (const [voters, votes, want] of cases) assert.equal(tallyVotes(voters, votes), want, `${voters} ${[...votes]}`);
  });
});
