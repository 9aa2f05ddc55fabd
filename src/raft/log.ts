// The Raft log: stable entries (Storage) followed by unstable ones not yet persisted.
// Pure bookkeeping of indexes and terms; it never writes to disk itself.

import { assert } from './assert.ts';
import { isRaftError } from './errors.ts';
import { type Storage, limitSize } from './storage.ts';
import { type Entry, type LogIndex, type Snapshot, type Term, entriesBytes, index, term } from './types.ts';

/** Entries and, possibly, a snapshot that the driver has not persisted yet. */
export class Unstable {
  snapshot: Snapshot | undefined;
  entries: Entry[] = [];
  /** Index of entries[0]. */
  offset: LogIndex;

  constructor(offset: LogIndex) {
    this.offset = offset;
  }

  maybeFirstIndex(): LogIndex | undefined {
    return this.snapshot ? index(this.snapshot.meta.index + 1) : undefined;
  }

  maybeLastIndex(): LogIndex | undefined {
    if (this.entries.length > 0) return index(this.offset + this.entries.length - 1);
    return this.snapshot ? this.snapshot.meta.index : undefined;
  }

  maybeTerm(i: LogIndex): Term | undefined {
    if (i < this.offset) {
      return this.snapshot && this.snapshot.meta.index === i ? this.snapshot.meta.term : undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[i - this.offset]!.term;
  }

  /** Entries up to i (with term t) are persisted: drop them from here. */
  stableTo(i: LogIndex, t: Term): void {
    const gt = this.maybeTerm(i);
    // A stale persist report for entries since replaced by a new leader's are ignored.
    if (gt === t && i >= this.offset) {
      this.entries = this.entries.slice(i + 1 - this.offset);
      this.offset = index(i + 1);
    }
  }

  stableSnapTo(i: LogIndex): void {
    if (this.snapshot && this.snapshot.meta.index === i) this.snapshot = undefined;
  }

  restore(s: Snapshot): void {
    this.offset = index(s.meta.index + 1);
    this.entries = [];
    this.snapshot = s;
  }

  truncateAndAppend(ents: readonly Entry[]): void {
    const from = ents[0]!.index;
    if (from === this.offset + this.entries.length) {
      this.entries = this.entries.concat(ents);
    } else if (from <= this.offset) {
      // Replace everything unstable; stable entries past `from` are truncated when persisted.
      this.offset = from;
      this.entries = ents.slice();
    } else {
      this.entries = this.entries.slice(0, from - this.offset).concat(ents);
    }
  }

  slice(lo: LogIndex, hi: LogIndex): Entry[] {
    assert(lo >= this.offset && hi <= this.offset + this.entries.length, () => `unstable.slice(${lo}, ${hi}) out of [${this.offset}, ${this.offset + this.entries.length}]`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

export class RaftLog {
  readonly storage: Storage;
  readonly unstable: Unstable;
  /** Highest index known committed (Figure 2 commitIndex). */
  committed: LogIndex;
  /** Highest index handed to the application and acknowledged by advance(). */
  applied: LogIndex;

  constructor(storage: Storage) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(index(last + 1));
    // Everything up to the snapshot is committed and applied by construction.
    this.committed = index(first - 1);
    this.applied = index(first - 1);
  }

  firstIndex(): LogIndex {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): LogIndex {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The term of entry i, or undefined when it was compacted or does not exist. */
  term(i: LogIndex): Term | undefined {
    const dummy = this.firstIndex() - 1;
    if (i < dummy || i > this.lastIndex()) return undefined;
    const t = this.unstable.maybeTerm(i);
    if (t !== undefined) return t;
    try {
      return this.storage.term(i);
    } catch (e) {
      if (isRaftError(e, 'COMPACTED') || isRaftError(e, 'UNAVAILABLE')) return undefined;
      throw e;
    }
  }

  lastTerm(): Term {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, () => `no term for last index ${this.lastIndex()}`);
    return t;
  }

  matchTerm(i: LogIndex, t: Term): boolean {
    return this.term(i) === t;
  }

  /** Raft §5.4.1: a log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** The first entry of `ents` that conflicts with (or extends) the log, or 0. */
  findConflict(ents: readonly Entry[]): LogIndex {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return index(0);
  }

  /**
   * The largest index <= i whose term is <= t, with that term (thesis §5.3
   * "fast back-off": skip a whole term of mismatching entries per round trip).
   */
  findConflictByTerm(i: LogIndex, t: Term): [LogIndex, Term] {
    let k = i;
    for (; k > 0; k--) {
      const ours = this.term(index(k));
      if (ours === undefined) return [index(k), term(0)];
      if (ours <= t) return [index(k), ours];
    }
    return [index(0), term(0)];
  }

  /**
   * AppendEntries receiver rules (Figure 2, steps 2-5). Returns the index of
   * the last new entry, or undefined when the log does not contain an entry at
   * prevIndex whose term matches prevTerm.
   */
  maybeAppend(prevIndex: LogIndex, prevTerm: Term, leaderCommit: LogIndex, ents: readonly Entry[]): LogIndex | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = index(prevIndex + ents.length);
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      assert(ci > this.committed, () => `entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      this.append(ents.slice(ci - (prevIndex + 1)));
    }
    this.commitTo(index(Math.min(leaderCommit, lastNew)));
    return lastNew;
  }

  append(ents: readonly Entry[]): LogIndex {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0]!.index - 1;
    assert(after >= this.committed, () => `append after ${after} is below committed ${this.committed}`);
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  commitTo(c: LogIndex): void {
    if (c > this.committed) {
      assert(c <= this.lastIndex(), () => `commit ${c} beyond last index ${this.lastIndex()}`);
      this.committed = c;
    }
  }

  /** Raft §5.4.2: only an entry of the current term is committed by counting replicas. */
  maybeCommit(maxIndex: LogIndex, currentTerm: Term): boolean {
    if (maxIndex > this.committed && this.term(maxIndex) === currentTerm) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  appliedTo(i: LogIndex): void {
    if (i === 0) return;
    assert(i <= this.committed && i >= this.applied, () => `applied ${i} outside [${this.applied}, ${this.committed}]`);
    this.applied = i;
  }

  stableTo(i: LogIndex, t: Term): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: LogIndex): void {
    this.unstable.stableSnapTo(i);
  }

  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== undefined;
  }

  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  /** Committed entries not yet applied, at most maxBytes (always at least one). */
  nextCommittedEntries(maxBytes: number): Entry[] {
    if (this.hasPendingSnapshot()) return [];
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(index(lo), index(this.committed + 1), maxBytes);
  }

  hasNextCommittedEntries(): boolean {
    if (this.hasPendingSnapshot()) return false;
    return this.committed > Math.max(this.applied, this.firstIndex() - 1);
  }

  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /**
   * Entries from i on, at most maxBytes; undefined when i was compacted (the
   * leader must send a snapshot instead).
   */
  entriesFrom(i: LogIndex, maxBytes: number): Entry[] | undefined {
    if (i > this.lastIndex()) return [];
    if (i < this.firstIndex()) return undefined;
    return this.slice(i, index(this.lastIndex() + 1), maxBytes);
  }

  /** Entries in [lo, hi) across storage and unstable. */
  slice(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1 && lo <= hi, () => `slice(${lo}, ${hi}) out of [${this.firstIndex()}, ${this.lastIndex() + 1}]`);
    if (lo === hi) return [];
    let ents: Entry[] = [];
    const uOff = this.unstable.offset;
    if (lo < uOff) {
      const stored = this.storage.entries(lo, index(Math.min(hi, uOff)), maxBytes);
      // Storage returned fewer than asked because of the size limit: stop there.
      if (stored.length < Math.min(hi, uOff) - lo) return stored;
      ents = stored;
    }
    if (hi > uOff) {
      const u = this.unstable.slice(index(Math.max(lo, uOff)), hi);
      ents = ents.length > 0 ? ents.concat(u) : u;
    }
    return limitSize(ents, maxBytes);
  }

  /** Reset the log to a snapshot received from the leader (Raft §7). */
  restore(s: Snapshot): void {
    this.committed = s.meta.index;
    this.unstable.restore(s);
  }

  unstableBytes(): number {
    return entriesBytes(this.unstable.entries);
  }
}
