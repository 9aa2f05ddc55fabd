// The core's view of stable storage (synchronous reads, as etcd/raft's Storage) and MemoryStorage.
// Durable backends (leveldb-storage.ts) write through to disk and keep a MemoryStorage as the read cache.

import { assert } from './assert.ts';
import { RaftError } from './errors.ts';
import {
  type ConfState,
  type Entry,
  type HardState,
  type LogIndex,
  type Snapshot,
  type Term,
  emptyHardState,
  entriesBytes,
  index,
  term,
} from './types.ts';

/**
 * Read-only access to what has been persisted. Every method is synchronous: the
 * core never waits on disk. Errors: RaftError COMPACTED for an index before the
 * first available entry, UNAVAILABLE for one past the last.
 */
export interface Storage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries in [lo, hi), at most maxBytes of payload but always at least one if any exist. */
  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[];
  /** Term of entry i; valid for i in [firstIndex()-1, lastIndex()]. */
  term(i: LogIndex): Term;
  lastIndex(): LogIndex;
  firstIndex(): LogIndex;
  /** The most recent snapshot; its index is firstIndex()-1 once the log was compacted. */
  snapshot(): Snapshot;
}

/** Keep a prefix of `ents` within maxBytes, never fewer than one entry. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = ents[0]!.data.byteLength;
  let n = 1;
  for (; n < ents.length; n++) {
    size += ents[n]!.data.byteLength;
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

/**
 * In-memory Storage. ents[0] is a dummy entry holding the snapshot's index and
 * term, so term(firstIndex-1) is always answerable (Raft §7 log matching
 * across the compaction point).
 */
export class MemoryStorage implements Storage {
  private hardState: HardState = emptyHardState;
  private snap: Snapshot;
  private ents: Entry[];
  private confState: ConfState;

  constructor(confState: ConfState = { voters: [], learners: [] }) {
    this.confState = confState;
    this.snap = {
      meta: { index: index(0), term: term(0), conf: confState },
      data: new Uint8Array(0),
    };
    this.ents = [{ term: term(0), index: index(0), kind: 'normal', data: new Uint8Array(0) }];
  }

  /**
   * Storage for a founding member of a new group. The membership is recorded
   * as a snapshot at index 1, term 1 (empty state machine image), not only as
   * local state: a node that joins later has no other way to learn the
   * founding members, because it catches up from the leader's log, and the
   * leader sends it this snapshot first. Every founding member must be
   * bootstrapped with the same `conf`.
   */
  static bootstrap<T extends MemoryStorage>(this: new (conf: ConfState) => T, conf: ConfState): T {
    const s = new this(conf);
    s.applySnapshot({ meta: { index: index(1), term: term(1), conf }, data: new Uint8Array(0) });
    s.setHardState({ term: term(1), vote: emptyHardState.vote, commit: index(1) });
    return s;
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = hs;
  }

  /** Record the membership after a conf change was applied (replays are idempotent). */
  setConfState(cs: ConfState): void {
    this.confState = cs;
  }

  private offset(): number {
    return this.ents[0]!.index;
  }

  firstIndex(): LogIndex {
    return index(this.offset() + 1);
  }

  lastIndex(): LogIndex {
    return index(this.offset() + this.ents.length - 1);
  }

  term(i: LogIndex): Term {
    const off = this.offset();
    if (i < off) throw new RaftError('COMPACTED', `entry ${i} compacted (first ${off + 1})`);
    if (i - off >= this.ents.length) throw new RaftError('UNAVAILABLE', `entry ${i} not yet in storage`);
    return this.ents[i - off]!.term;
  }

  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    const off = this.offset();
    if (lo <= off) throw new RaftError('COMPACTED', `entry ${lo} compacted (first ${off + 1})`);
    assert(hi <= this.lastIndex() + 1, () => `entries(${lo}, ${hi}) beyond last ${this.lastIndex()}`);
    if (this.ents.length === 1) throw new RaftError('UNAVAILABLE', 'log is empty');
    return limitSize(this.ents.slice(lo - off, hi - off), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replace everything with `snap` (a follower receiving InstallSnapshot). */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.snap.meta.index) {
      throw new RaftError('SNAPSHOT_OUT_OF_DATE', `snapshot ${snap.meta.index} <= ${this.snap.meta.index}`);
    }
    this.snap = snap;
    this.confState = snap.meta.conf;
    this.ents = [{ term: snap.meta.term, index: snap.meta.index, kind: 'normal', data: new Uint8Array(0) }];
  }

  /** Record a snapshot of the state machine at applied index i (does not compact). */
  createSnapshot(i: LogIndex, conf: ConfState, data: Uint8Array): Snapshot {
    if (i <= this.snap.meta.index) {
      throw new RaftError('SNAPSHOT_OUT_OF_DATE', `snapshot ${i} <= ${this.snap.meta.index}`);
    }
    assert(i <= this.lastIndex(), () => `snapshot ${i} beyond last index ${this.lastIndex()}`);
    this.snap = { meta: { index: i, term: this.term(i), conf }, data };
    return this.snap;
  }

  /** Discard entries before compactIndex; the entry at compactIndex becomes the dummy. */
  compact(compactIndex: LogIndex): void {
    const off = this.offset();
    if (compactIndex <= off) throw new RaftError('COMPACTED', `already compacted to ${off}`);
    assert(compactIndex <= this.lastIndex(), () => `compact ${compactIndex} beyond last ${this.lastIndex()}`);
    const i = compactIndex - off;
    const dummy = this.ents[i]!;
    this.ents = [{ term: dummy.term, index: dummy.index, kind: 'normal', data: new Uint8Array(0) }, ...this.ents.slice(i + 1)];
  }

  /** Append entries, truncating any conflicting suffix (the caller persisted them first). */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all compacted already
    const ents = first > entries[0]!.index ? entries.slice(first - entries[0]!.index) : entries;
    const off = ents[0]!.index - this.offset();
    assert(off <= this.ents.length, () => `missing log entry: last ${this.lastIndex()}, appending at ${ents[0]!.index}`);
    if (off === this.ents.length) {
      for (const e of ents) this.ents.push(e); // the common case: no copy of the log
      return;
    }
    this.ents = this.ents.slice(0, off).concat(ents);
  }

  /** Payload bytes held, for tests and metrics. */
  bytes(): number {
    return entriesBytes(this.ents);
  }
}

/** What one Ready asks to be made durable. */
export interface DurableWrite {
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
}

/**
 * A Storage that persists. The driver calls save() with each Ready's durable
 * part and sends that Ready's messages only after the returned promise
 * resolves (with `sync`, the data is fsynced). After a crash at any moment,
 * reopening yields exactly the writes whose save() resolved, or more; never a
 * torn write.
 */
export interface DurableStorage extends Storage {
  save(w: DurableWrite, sync: boolean): Promise<void>;
  /** Persist the membership after a conf change was applied. */
  saveConfState(cs: ConfState): Promise<void>;
  /** Record a state machine snapshot at applied index i, then drop entries before i - keepEntries. */
  snapshotAndCompact(i: LogIndex, conf: ConfState, data: Uint8Array, keepEntries: number): Promise<void>;
  close(): Promise<void>;
}
