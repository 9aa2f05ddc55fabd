// Units of the log: Unstable (entries not yet persisted), RaftLog (the Figure 2 log with commit and apply
// indexes, across storage and unstable), MemoryStorage and limitSize.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AssertionFailure } from '../../src/raft/assert.ts';
import { RaftLog, Unstable } from '../../src/raft/log.ts';
import { limitSize } from '../../src/raft/storage.ts';
import { MemoryStorage, type Snapshot, index, isRaftError, term } from '../../src/raft/index.ts';
import { entriesAt, entry, logShape, n1, storageWith } from './helpers.ts';

const i = index;
const t = term;

function snap(at: number, tm: number): Snapshot {
  return { meta: { index: i(at), term: t(tm), conf: { voters: [n1], learners: [] } }, data: new Uint8Array(0) };
}

/** A RaftLog over stable entries with the given terms, plus unstable ones appended after them. */
function logOf(stable: number[], unstable: number[] = []): RaftLog {
  const log = new RaftLog(storageWith(stable));
  if (unstable.length > 0) log.append(entriesAt(stable.length + 1, ...unstable));
  return log;
}

describe('Unstable', () => {
  // Reference: Raft §7 — a snapshot received but not yet persisted defines the first index.
  test('first and last index come from the snapshot and entries not yet persisted', () => {
    const u = new Unstable(i(5));
    assert.equal(u.maybeFirstIndex(), undefined);
    assert.equal(u.maybeLastIndex(), undefined);
    u.restore(snap(4, 1));
    assert.deepEqual([u.maybeFirstIndex(), u.maybeLastIndex()], [5, 4]);
    u.truncateAndAppend(entriesAt(5, 1, 2));
    assert.deepEqual([u.maybeFirstIndex(), u.maybeLastIndex()], [5, 6]);
    assert.deepEqual([u.maybeTerm(i(4)), u.maybeTerm(i(5)), u.maybeTerm(i(6)), u.maybeTerm(i(7)), u.maybeTerm(i(3))], [1, 1, 2, undefined, undefined]);
  });

  // Reference: Raft §5.3 — a persist report for entries a newer leader has since replaced must not drop
  // the replacements (the report's term no longer matches).
  test('stableTo drops persisted entries but ignores stale reports', () => {
    const u = new Unstable(i(1));
    u.truncateAndAppend(entriesAt(1, 1, 1, 2));
    u.stableTo(i(2), t(2)); // term mismatch: entry 2 is of term 1
    assert.equal(u.entries.length, 3);
    u.stableTo(i(2), t(1));
    assert.deepEqual([u.offset, logShape(u.entries)], [3, [[3, 2]]]);
    u.stableTo(i(1), t(1)); // already stable
    assert.equal(u.offset, 3);
    u.stableSnapTo(i(9));
    u.restore(snap(9, 3));
    u.stableSnapTo(i(9));
    assert.equal(u.snapshot, undefined);
  });

  // Reference: Raft §5.3 — appended entries replace any conflicting suffix.
  test('truncateAndAppend appends, replaces everything, or truncates the middle', () => {
    const cases: { from: number; want: [number, number][]; offset: number }[] = [
      { from: 8, want: [[5, 1], [6, 1], [7, 1], [8, 3]], offset: 5 },
      { from: 5, want: [[5, 3]], offset: 5 },
      { from: 3, want: [[3, 3]], offset: 3 },
      { from: 6, want: [[5, 1], [6, 3]], offset: 5 },
    ];
    for (const c of cases) {
      const u = new Unstable(i(5));
      u.truncateAndAppend(entriesAt(5, 1, 1, 1));
      u.truncateAndAppend(entriesAt(c.from, 3));
      assert.deepEqual([u.offset, logShape(u.entries)], [c.offset, c.want], `from ${c.from}`);
    }
  });
});

describe('RaftLog', () => {
  // Reference: Raft §5.3 (Log Matching) — the first new entry whose term differs from ours, or that
  // extends the log, is where appending starts.
  test('findConflict finds the first conflicting or new entry', () => {
    const log = logOf([1, 2, 3]);
    const cases: [number, number[], number][] = [
      [1, [], 0],
      [1, [1, 2, 3], 0],
      [2, [2, 3], 0],
      [3, [3], 0],
      [1, [1, 2, 3, 4, 4], 4],
      [2, [2, 3, 4, 4], 4],
      [4, [4, 4], 4],
      [1, [4, 4], 1],
      [2, [1, 4, 4], 2],
      [3, [1, 2, 4, 4], 3],
    ];
    for (const [from, terms, want] of cases) assert.equal(log.findConflict(entriesAt(from, ...terms)), want, `${from} ${terms}`);
  });

  // Reference: Raft §5.4.1 — the up-to-date comparison: last term first, then length.
  test('isUpToDate compares last term, then last index', () => {
    const log = logOf([1, 2, 3]);
    const cases: [number, number, boolean][] = [
      [2, 4, true],
      [3, 4, true],
      [4, 4, true],
      [2, 2, false],
      [3, 2, false],
      [4, 2, false],
      [2, 3, false],
      [3, 3, true],
      [4, 3, true],
    ];
    for (const [li, lt, want] of cases) assert.equal(log.isUpToDate(i(li), t(lt)), want, `${li}/${lt}`);
  });

  // Reference: Raft §5.3, Figure 2 AppendEntries receiver steps 2-5 as one operation.
  test('maybeAppend checks prev, truncates conflicts, appends and commits min(leaderCommit, lastNew)', () => {
    const cases: { prev: [number, number]; commit: number; ents: number[]; lastNew: number | undefined; committed: number; log: number[] }[] = [
      { prev: [3, 2], commit: 3, ents: [4], lastNew: undefined, committed: 1, log: [1, 2, 3] },
      { prev: [4, 3], commit: 3, ents: [4], lastNew: undefined, committed: 1, log: [1, 2, 3] },
      { prev: [3, 3], commit: 3, ents: [], lastNew: 3, committed: 3, log: [1, 2, 3] },
      { prev: [3, 3], commit: 4, ents: [], lastNew: 3, committed: 3, log: [1, 2, 3] },
      { prev: [3, 3], commit: 2, ents: [], lastNew: 3, committed: 2, log: [1, 2, 3] },
      { prev: [3, 3], commit: 0, ents: [], lastNew: 3, committed: 1, log: [1, 2, 3] },
      { prev: [3, 3], commit: 4, ents: [4], lastNew: 4, committed: 4, log: [1, 2, 3, 4] },
      { prev: [3, 3], commit: 5, ents: [4, 4], lastNew: 5, committed: 5, log: [1, 2, 3, 4, 4] },
      { prev: [2, 2], commit: 3, ents: [4], lastNew: 3, committed: 3, log: [1, 2, 4] },
      { prev: [1, 1], commit: 3, ents: [2, 3], lastNew: 3, committed: 3, log: [1, 2, 3] },
    ];
    for (const c of cases) {
      const log = logOf([1, 2, 3]);
      log.commitTo(i(1));
      const got = log.maybeAppend(i(c.prev[0]), t(c.prev[1]), i(c.commit), entriesAt(c.prev[0] + 1, ...c.ents));
      const why = JSON.stringify(c);
      assert.equal(got, c.lastNew, why);
      assert.equal(log.committed, c.committed, why);
      assert.deepEqual(log.slice(i(1), i(log.lastIndex() + 1), 1e9).map((e) => e.term), c.log, why);
    }
  });

  // Reference: Raft §5.3 — commitIndex only grows and never passes the log; lastApplied never passes
  // commitIndex (Figure 2: "If commitIndex > lastApplied: increment lastApplied").
  test('commitTo and appliedTo keep applied <= committed <= last', () => {
    const log = logOf([1, 1, 1]);
    log.commitTo(i(2));
    log.commitTo(i(1));
    assert.equal(log.committed, 2, 'commit never decreases');
    assert.throws(() => log.commitTo(i(4)), AssertionFailure);
    assert.throws(() => log.appliedTo(i(3)), AssertionFailure);
    log.appliedTo(i(2));
    assert.throws(() => log.appliedTo(i(1)), AssertionFailure);
  });

  // Reference: Raft §5.3 — committed entries are applied in order, each once; a batch is bounded by bytes
  // but always makes progress; nothing is applied while a snapshot is pending (Raft §7).
  test('nextCommittedEntries hands out applied+1..committed within maxBytes, at least one', () => {
    const log = new RaftLog(storageWith([]));
    log.append([entry(1, 1, 'aaaa'), entry(2, 1, 'bbbb'), entry(3, 1, 'cccc')]);
    log.commitTo(i(3));
    assert.equal(log.hasNextCommittedEntries(), true);
    assert.deepEqual(logShape(log.nextCommittedEntries(8)), [[1, 1], [2, 1]]);
    assert.deepEqual(logShape(log.nextCommittedEntries(1)), [[1, 1]]);
    log.appliedTo(i(2));
    assert.deepEqual(logShape(log.nextCommittedEntries(1e9)), [[3, 1]]);
    log.appliedTo(i(3));
    assert.equal(log.hasNextCommittedEntries(), false);
    assert.deepEqual(log.nextCommittedEntries(1e9), []);
    log.restore(snap(9, 2));
    assert.equal(log.hasNextCommittedEntries(), false);
    assert.deepEqual(log.nextCommittedEntries(1e9), []);
  });

  // Reference: Raft §7 — after compaction the log answers terms from the snapshot point on, and asks for a
  // snapshot for anything older.
  test('term, slice and entriesFrom span storage and unstable and respect compaction', () => {
    const s = storageWith([1, 1, 2, 2, 3]);
    s.createSnapshot(i(2), { voters: [n1], learners: [] }, new Uint8Array(0));
    s.compact(i(2));
    const log = new RaftLog(s);
    log.append(entriesAt(6, 3, 4));
    assert.deepEqual([log.firstIndex(), log.lastIndex(), log.committed, log.applied], [3, 7, 2, 2]);
    assert.deepEqual([1, 2, 3, 5, 6, 7, 8].map((k) => log.term(i(k))), [undefined, 1, 2, 3, 3, 4, undefined]);
    assert.deepEqual(logShape(log.slice(i(4), i(8), 1e9)), [[4, 2], [5, 3], [6, 3], [7, 4]]);
    assert.equal(log.entriesFrom(i(2), 1e9), undefined, 'compacted: send a snapshot');
    assert.deepEqual(log.entriesFrom(i(8), 1e9), []);
    assert.deepEqual(logShape(log.entriesFrom(i(5), 1e9)!), [[5, 3], [6, 3], [7, 4]]);
    assert.throws(() => log.slice(i(2), i(4), 1e9), AssertionFailure);
  });

  // Reference: Raft §5.3 (fast back-off) — the largest index at or below i whose term is at most t.
  test('findConflictByTerm skips whole terms', () => {
    const log = logOf([1, 1, 3, 3, 3, 5, 5]);
    const cases: [number, number, [number, number]][] = [
      [7, 5, [7, 5]],
      [7, 4, [5, 3]],
      [7, 2, [2, 1]],
      [5, 3, [5, 3]],
      [7, 0, [0, 0]],
      [0, 5, [0, 0]],
    ];
    for (const [k, tm, want] of cases) assert.deepEqual(log.findConflictByTerm(i(k), t(tm)), want, `${k}/${tm}`);
  });

  // Reference: Raft §5.4.2 — the log commits by counting replicas only an entry of the current term.
  test('maybeCommit commits only an index whose entry has the current term', () => {
    const log = logOf([1, 1, 2]);
    assert.equal(log.maybeCommit(i(2), t(2)), false);
    assert.equal(log.committed, 0);
    assert.equal(log.maybeCommit(i(3), t(2)), true);
    assert.equal(log.committed, 3);
    assert.equal(log.maybeCommit(i(2), t(1)), false, 'never backwards');
  });
});

describe('MemoryStorage and limitSize', () => {
  // Reference: Raft §5.3 — storage appends replace a conflicting suffix, and appends of entries already
  // compacted away are trimmed.
  test('append truncates conflicts and skips the compacted prefix', () => {
    const s = storageWith([1, 1, 1, 1]);
    s.append(entriesAt(3, 2, 2, 2));
    assert.deepEqual(logShape(s.entries(i(1), i(6), 1e9)), [[1, 1], [2, 1], [3, 2], [4, 2], [5, 2]]);
    s.createSnapshot(i(3), { voters: [n1], learners: [] }, new Uint8Array(0));
    s.compact(i(3));
    s.append(entriesAt(2, 1, 2, 3)); // 2 and 3 are compacted; 4 is replaced
    assert.deepEqual(logShape(s.entries(i(4), i(5), 1e9)), [[4, 3]]);
    assert.equal(s.lastIndex(), 4);
    assert.throws(() => s.append(entriesAt(7, 3)), AssertionFailure, 'a gap is a programmer error');
    const empty = new MemoryStorage();
    assert.throws(() => empty.entries(i(1), i(1), 10), (e) => isRaftError(e, 'UNAVAILABLE'));
    assert.throws(() => empty.term(i(1)), (e) => isRaftError(e, 'UNAVAILABLE'));
    assert.equal(empty.term(i(0)), 0);
  });

  // Reference: Raft thesis §10.2.2 — batches are bounded by bytes but always carry one entry.
  test('limitSize keeps a prefix within maxBytes, never fewer than one entry', () => {
    const ents = [entry(1, 1, 'aa'), entry(2, 1, 'bb'), entry(3, 1, 'cc')];
    assert.equal(limitSize(ents, 0).length, 1);
    assert.equal(limitSize(ents, 3).length, 1);
    assert.equal(limitSize(ents, 4).length, 2);
    assert.equal(limitSize(ents, 6).length, 3);
    assert.deepEqual(limitSize([], 10), []);
  });
});
