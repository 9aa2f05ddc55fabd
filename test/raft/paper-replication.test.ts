// The log replication rules of the Raft paper (§5.3, and the no-op of §8), one test per rule.
// AppendEntries receiver and leader bookkeeping on a bare Raft; convergence of whole logs on a Network.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionFailure } from '../../src/raft/assert.ts';
import { RaftLog } from '../../src/raft/log.ts';
import { type Entry, type NodeId, index, term } from '../../src/raft/index.ts';
import { Network, ids } from './network.ts';
import {
  ackAll,
  allEntries,
  entriesAt,
  forceLeader,
  logShape,
  msg,
  n1,
  n2,
  n3,
  n4,
  n5,
  newRaft,
  propose,
  storageWith,
  take,
  text,
} from './helpers.ts';

/** A follower of term `t` over a log with the given terms, committed up to `commit`. */
function follower(terms: number[], t: number, commit = 0) {
  return newRaft(n1, { storage: storageWith(terms, { hardState: { term: t, commit } }) });
}

describe('Raft §5.3 log replication', () => {
  // Reference: Raft §8 — "Raft handles this by having each leader commit a blank no-op entry into the
  // log at the start of its term."
  test('a new leader appends a no-op of its term and replicates it', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    for (const id of ids(1, 2, 3)) {
      const log = allEntries(net.raft(id));
      assert.deepEqual(logShape(log), [[1, 1]], id);
      assert.equal(log[0]!.kind, 'normal');
      assert.equal(log[0]!.data.byteLength, 0);
      assert.equal(net.raft(id).log.committed, 1, `${id} knows the no-op committed`);
    }
    assert.deepEqual(net.get(n2).applied, [], 'the no-op carries no application data');
  });

  // Reference: Raft §5.3, Figure 2 — AppendEntries carries prevLogIndex, prevLogTerm, the new entries
  // and leaderCommit.
  test('an AppendEntries carries the preceding index and term, the entries and the leader commit', () => {
    const r = forceLeader(newRaft(n1));
    ackAll(r, [n2, n3]);
    take(r);
    propose(r, 'x');
    const apps = take(r).filter((m) => m.type === 'app');
    assert.deepEqual(
      apps.map((m) => [m.to, m.term, m.index, m.logTerm, m.commit, logShape(m.entries), m.entries.map((e) => text(e.data))]),
      [
        [n2, 1, 1, 1, 1, [[2, 1]], ['x']],
        [n3, 1, 1, 1, 1, [[2, 1]], ['x']],
      ],
    );
  });

  // Reference: Raft §5.3, Figure 2 AppendEntries receiver step 2 — "Reply false if log doesn't contain
  // an entry at prevLogIndex whose term matches prevLogTerm."
  test('the consistency check rejects an append whose prevLogIndex/prevLogTerm does not match', () => {
    // The follower holds [1:1, 2:2] and has committed 1.
    const cases = [
      { prev: [0, 0], reject: false, index: 1, why: 'below commit: answered with the commit' },
      { prev: [1, 1], reject: false, index: 1, why: 'matches' },
      { prev: [2, 2], reject: false, index: 2, why: 'matches at the end' },
      { prev: [1, 2], reject: true, index: 1, hint: [1, 1], why: 'term mismatch' },
      { prev: [2, 1], reject: true, index: 2, hint: [1, 1], why: 'term mismatch at the end' },
      { prev: [3, 3], reject: true, index: 3, hint: [2, 2], why: 'beyond the end of the log' },
    ];
    for (const c of cases) {
      const r = follower([1, 2], 2, 1);
      r.step(msg({ type: 'app', from: n2, to: n1, term: 2, index: c.prev[0], logTerm: c.prev[1], commit: 1 }));
      const [resp, ...rest] = take(r);
      assert.equal(rest.length, 0);
      assert.equal(resp?.type, 'appResp', c.why);
      assert.equal(resp?.reject, c.reject, c.why);
      assert.equal(resp?.index, c.index, c.why);
      if (c.hint) assert.deepEqual([resp?.rejectHint, resp?.logTerm], c.hint, `${c.why}: fast back-off hint`);
      assert.deepEqual(logShape(allEntries(r)), [
        [1, 1],
        [2, 2],
      ]);
    }
  });

  // Reference: Raft §5.3, Figure 2 AppendEntries receiver steps 3-4 — "If an existing entry conflicts
  // with a new one (same index but different terms), delete the existing entry and all that follow
  // it. Append any new entries not already in the log."
  test('a follower deletes a conflicting suffix and appends; it keeps entries that match', () => {
    const cases: { prev: [number, number]; ents: Entry[]; want: [number, number][]; why: string }[] = [
      { prev: [2, 2], ents: entriesAt(3, 3), want: [[1, 1], [2, 2], [3, 3]], why: 'plain append' },
      { prev: [1, 1], ents: entriesAt(2, 3, 4), want: [[1, 1], [2, 3], [3, 4]], why: 'conflict at 2' },
      { prev: [0, 0], ents: entriesAt(1, 1), want: [[1, 1], [2, 2]], why: 'already present: nothing truncated' },
      { prev: [0, 0], ents: entriesAt(1, 3), want: [[1, 3]], why: 'conflict at 1' },
    ];
    for (const c of cases) {
      const r = follower([1, 2], 2);
      r.step(msg({ type: 'app', from: n2, to: n1, term: 3, index: c.prev[0], logTerm: c.prev[1], entries: c.ents }));
      assert.deepEqual(logShape(allEntries(r)), c.want, c.why);
      const [resp] = take(r);
      assert.equal(resp?.reject, false, c.why);
    }
  });

  // Reference: Raft §5.3 and §5.4 (Leader Completeness) — committed entries are never removed: a stale
  // append below the commit index is answered with the commit, and truncating a committed entry is a
  // programmer error that the log asserts against.
  test('a committed entry is never truncated', () => {
    const r = follower([1, 1, 1], 1, 2);
    r.step(msg({ type: 'app', from: n2, to: n1, term: 2, index: 1, logTerm: 1, entries: entriesAt(2, 2) }));
    assert.deepEqual(logShape(allEntries(r)), [[1, 1], [2, 1], [3, 1]]);
    assert.deepEqual(take(r).map((m) => [m.type, m.index, m.reject]), [['appResp', 2, false]]);

    const log = new RaftLog(storageWith([1, 1, 1]));
    log.commitTo(index(2));
    assert.throws(() => log.maybeAppend(index(1), term(1), index(2), entriesAt(2, 2)), AssertionFailure);
  });

  // Reference: Raft §5.3, Figure 2 AppendEntries receiver step 5 — "If leaderCommit > commitIndex, set
  // commitIndex = min(leaderCommit, index of last new entry)."
  test('a follower commits min(leaderCommit, index of the last new entry)', () => {
    const cases = [
      { prev: [1, 1], ents: entriesAt(2, 1), leaderCommit: 3, want: 2, why: 'bounded by the last new entry' },
      { prev: [3, 1], ents: [], leaderCommit: 5, want: 3, why: 'bounded by prevLogIndex' },
      { prev: [1, 1], ents: [], leaderCommit: 3, want: 1, why: 'an empty append confirms only up to prev' },
      { prev: [3, 1], ents: entriesAt(4, 2), leaderCommit: 2, want: 2, why: 'bounded by leaderCommit' },
    ];
    for (const c of cases) {
      const r = follower([1, 1, 1], 2);
      r.step(msg({ type: 'app', from: n2, to: n1, term: 2, index: c.prev[0], logTerm: c.prev[1], entries: c.ents, commit: c.leaderCommit }));
      assert.equal(r.log.committed, c.want, c.why);
    }
  });

  // Reference: Raft §5.3 — "A log entry is committed once the leader that created the entry has
  // replicated it on a majority of the servers."
  test('the leader commits an entry of its term once a majority stores it', () => {
    const r = forceLeader(newRaft(n1, { voters: [n1, n2, n3, n4, n5] }));
    const ack = (from: NodeId, i: number) => r.step(msg({ type: 'appResp', from, to: n1, term: r.term, index: i }));
    ack(n2, 1);
    assert.equal(r.log.committed, 0, '2 of 5');
    ack(n3, 1);
    assert.equal(r.log.committed, 1, '3 of 5');
    propose(r, 'x');
    propose(r, 'y');
    ack(n2, 3);
    assert.equal(r.log.committed, 1);
    ack(n4, 2);
    assert.equal(r.log.committed, 2, 'index 2 is on n1, n2, n4');
    ack(n5, 3);
    assert.equal(r.log.committed, 3, 'index 3 is on n1, n2, n5');
    // Followers learn the new commit index with the next append.
    const apps = take(r).filter((m) => m.type === 'app');
    assert.equal(apps[apps.length - 1]!.commit, 3);
  });

  // Reference: Raft §5.3 — the leader forces followers' logs to duplicate its own (Figure 7: a leader
  // of term 8 and six followers (a)-(f), missing entries, holding extra ones, or both). Leader
  // Append-Only (Figure 3): the leader's own log is never rewritten in the process.
  test('every Figure 7 follower converges to the leader log, which never changes', () => {
    const leaderLog = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followers: Record<string, number[]> = {
      a: [1, 1, 1, 4, 4, 5, 5, 6, 6],
      b: [1, 1, 1, 4],
      c: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      d: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      e: [1, 1, 1, 4, 4, 4, 4],
      f: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    };
    for (const [name, flog] of Object.entries(followers)) {
      const net = new Network(ids(1, 2, 3));
      // n1 leads; n3 holds the leader's log so that n1 can win without n2, whose log may be newer.
      net.start(n1, storageWith(leaderLog, { hardState: { term: 7 } }));
      net.start(n2, storageWith(flog, { hardState: { term: 7 } }));
      net.start(n3, storageWith(leaderLog, { hardState: { term: 7 } }));
      net.campaign(n1);
      assert.equal(net.raft(n1).role, 'leader', name);
      assert.equal(net.raft(n1).term, 8);
      net.tick(n1); // a heartbeat round reaches followers left paused by a rejected vote
      const want = [...leaderLog.map((t, k): [number, number] => [k + 1, t]), [11, 8]];
      assert.deepEqual(logShape(allEntries(net.raft(n1))), want, `${name}: leader log unchanged`);
      assert.deepEqual(logShape(allEntries(net.raft(n2))), want, `follower (${name})`);
      assert.equal(net.raft(n2).log.committed, 11, `follower (${name}) committed`);
    }
  });

  // Reference: Raft §5.3 — "the follower can include the term of the conflicting entry and the first
  // index it stores for that term. With this information, the leader can decrement nextIndex to
  // bypass all of the conflicting entries in that term; one AppendEntries RPC will be required for
  // each term with conflicting entries, rather than one RPC per entry."
  test('fast back-off: a follower with a long divergent log converges in a few round trips', () => {
    const repeat = (t: number, n: number) => Array.from({ length: n }, () => t);
    const cases = [
      { why: 'longer, one older term', leader: [1, ...repeat(3, 100)], follower: [1, ...repeat(2, 150)], t: 3 },
      { why: 'three older terms', leader: [1, ...repeat(5, 100)], follower: [1, ...repeat(2, 50), ...repeat(3, 50), ...repeat(4, 50)], t: 5 },
      { why: 'shorter, missing entries', leader: [1, ...repeat(3, 100)], follower: [1], t: 3 },
      { why: 'shared prefix then divergence', leader: [1, ...repeat(2, 60), ...repeat(4, 60)], follower: [1, ...repeat(2, 60), ...repeat(3, 100)], t: 4 },
    ];
    for (const c of cases) {
      const net = new Network(ids(1, 2, 3));
      net.start(n1, storageWith(c.leader, { hardState: { term: c.t } }));
      net.start(n2, storageWith(c.follower, { hardState: { term: c.t } }));
      net.start(n3, storageWith(c.leader, { hardState: { term: c.t } }));
      net.campaign(n1);
      net.tick(n1);
      assert.equal(net.raft(n1).role, 'leader', c.why);
      const rejections = net.delivered.filter((m) => m.type === 'appResp' && m.from === n2 && m.reject).length;
      const divergent = Math.max(c.leader.length, c.follower.length) - 1;
      assert.ok(rejections >= 1 && rejections <= 2, `${c.why}: ${rejections} rejected appends for ${divergent} divergent entries`);
      assert.deepEqual(logShape(allEntries(net.raft(n2))), logShape(allEntries(net.raft(n1))), c.why);
    }
  });

  // Reference: Raft §5.3 (etcd's refinement of leaderCommit) — a heartbeat carries
  // min(commit, follower's match), so a follower never learns a commit index past the entries it is
  // known to hold (it may still hold a stale, uncommitted suffix from an older term).
  test('heartbeats never carry a commit index beyond the follower match', () => {
    const r = forceLeader(newRaft(n1));
    r.step(msg({ type: 'appResp', from: n2, to: n1, term: 1, index: 1 }));
    propose(r, 'x');
    propose(r, 'y');
    r.step(msg({ type: 'appResp', from: n2, to: n1, term: 1, index: 3 }));
    assert.equal(r.log.committed, 3);
    r.step(msg({ type: 'appResp', from: n3, to: n1, term: 1, index: 1 }));
    take(r);
    r.tick(); // heartbeat timeout: one tick
    const beats = take(r).filter((m) => m.type === 'heartbeat');
    assert.deepEqual(
      beats.map((m) => [m.to, m.commit]),
      [
        [n2, 3],
        [n3, 1],
      ],
    );
  });

  // Reference: Raft §5.3 — "If followers crash or run slowly, or if network packets are lost, the
  // leader retries AppendEntries RPCs indefinitely until all followers eventually store all log
  // entries." Followers apply committed entries in log order.
  test('a follower that missed appends catches up and applies everything in order', () => {
    const net = new Network(ids(1, 2, 3));
    net.campaign(n1);
    net.propose(n1, 'a');
    net.drop('app');
    net.propose(n1, 'b');
    net.propose(n1, 'c');
    assert.deepEqual(net.get(n2).applied, ['a']);
    net.heal();
    net.tickAll(3);
    for (const id of ids(1, 2, 3)) assert.deepEqual(net.get(id).applied, ['a', 'b', 'c'], id);
  });

  // Reference: Raft §5.3 — Log Matching (Figure 3): logs that share an entry's index and term are
  // identical up to it. After a leader change that loses an uncommitted entry, every log ends
  // identical and every node applied the same sequence.
  test('log matching holds across leader changes', () => {
    const net = new Network(ids(1, 2, 3, 4, 5));
    net.campaign(n1);
    net.propose(n1, 'a');
    net.isolate(n1);
    net.propose(n1, 'lost'); // never reaches a majority
    net.tickAll(40);
    const second = net.leaders().find((id) => id !== n1)!;
    net.propose(second, 'b');
    net.heal();
    net.tickAll(5);
    net.propose(second, 'c');
    const reference = allEntries(net.raft(second));
    for (const id of ids(1, 2, 3, 4, 5)) {
      const ents = allEntries(net.raft(id));
      assert.deepEqual(logShape(ents), logShape(reference), id);
      assert.deepEqual(net.get(id).applied, ['a', 'b', 'c'], id);
    }
  });
});
