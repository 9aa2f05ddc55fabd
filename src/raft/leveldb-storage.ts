// Owns one Raft node's durable state in a LevelDB directory: hard state, membership, snapshot, log entries.
// Must not make the core wait on disk (reads come from a MemoryStorage cache) nor decide what is written, only how.

import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { assert } from './assert.ts';
import { RaftError, isRaftError } from './errors.ts';
import { type DurableStorage, type DurableWrite, MemoryStorage } from './storage.ts';
import {
  type ConfState,
  type Entry,
  type HardState,
  type LogIndex,
  type NodeId,
  type Snapshot,
  type Term,
  emptyHardState,
  index,
  isEmptySnapshot,
  term,
} from './types.ts';

/*
 * On-disk layout, format 1. Keys are a one-byte prefix per kind; entry keys
 * append the index as 8 bytes big-endian, so LevelDB's byte order is log order.
 * Values are MessagePack maps (msgpackr, useRecords: false).
 *
 * Invariants, kept by every write (each one atomic LevelDB batch) and checked
 * by open(). b = log base, s = snapshot index, last = highest stored entry or b:
 *   I1 b <= s. The base is the log's "dummy": the index and term of the last
 *      discarded entry ((0, 0) before any compaction), so term(b) stays
 *      answerable (Raft §5.3 consistency check across the compaction point).
 *   I2 Stored entries are exactly b+1 .. last: contiguous, terms
 *      non-decreasing and >= the base term. Nothing at or below b survives.
 *   I3 If b < s (snapshotAndCompact kept a tail of keepEntries), entry s is
 *      stored and has the snapshot's term; if b = s, base and snapshot terms agree.
 *   I4 hard state commit <= last, and >= b unless the hard state is empty
 *      (the core asserts the same when it loads it).
 * The cache mirrors the disk: MemoryStorage's dummy entry is the base and its
 * snapshot() the stored snapshot, so firstIndex() = b + 1 before and after a
 * reopen, even though the snapshot may lie above b (as in etcd after
 * CreateSnapshot(i) then Compact(i - keep)).
 */
export const storageFormat = 1;

export const keyPrefix = {
  format: 0x00,
  hardState: 0x01,
  confState: 0x02,
  snapshot: 0x03,
  logBase: 0x04,
  entry: 0x10,
} as const;

const formatKey = Uint8Array.of(keyPrefix.format);
const hardStateKey = Uint8Array.of(keyPrefix.hardState);
const confStateKey = Uint8Array.of(keyPrefix.confState);
const snapshotKey = Uint8Array.of(keyPrefix.snapshot);
const logBaseKey = Uint8Array.of(keyPrefix.logBase);
const entryKeyBytes = 9;

/** Key of log entry i (exported for tests and offline tools). */
export function entryKey(i: number): Uint8Array {
  const k = new Uint8Array(entryKeyBytes);
  const view = new DataView(k.buffer);
  k[0] = keyPrefix.entry;
  view.setUint32(1, Math.floor(i / 2 ** 32));
  view.setUint32(5, i >>> 0);
  return k;
}

function entryKeyIndex(k: Uint8Array): number | undefined {
  if (k.byteLength !== entryKeyBytes || k[0] !== keyPrefix.entry) return undefined;
  const view = new DataView(k.buffer, k.byteOffset, k.byteLength);
  return view.getUint32(1) * 2 ** 32 + view.getUint32(5);
}

const packr = new Packr({ useRecords: false });

type BatchOp = { type: 'put'; key: Uint8Array; value: Uint8Array } | { type: 'del'; key: Uint8Array };
type Db = ClassicLevel<Uint8Array, Uint8Array>;

/** The log's dummy entry: where the stored entries start (I1). */
interface LogBase {
  readonly index: LogIndex;
  readonly term: Term;
}

const noBase: LogBase = { index: index(0), term: term(0) };

/**
 * Durable Raft storage. Writes are serialized in call order; each is one
 * LevelDB batch, and the cache changes only after that batch resolved, so a
 * failed write leaves the cache as it was. After any write failure the disk
 * may or may not hold that batch, so every later write is refused: the driver
 * must stop the node and reopen (recovery reads the disk as the truth).
 *
 * The driver passes `ready.mustSync` as `sync` to save(): with it the batch is
 * fsynced before the promise resolves, which Raft requires before any message
 * of that Ready is sent (Figure 2: persist before responding to RPCs).
 * Batches carrying a snapshot, saveConfState and snapshotAndCompact always sync.
 */
export class LevelDBStorage implements DurableStorage {
  private readonly db: Db;
  private readonly cache: MemoryStorage;
  private base: LogBase;
  private tail: Promise<void> = Promise.resolve();
  private failure: RaftError | undefined;

  private constructor(db: Db, cache: MemoryStorage, base: LogBase) {
    this.db = db;
    this.cache = cache;
    this.base = base;
  }

  /**
   * Open (creating if missing) the store in `dir`, load it into the cache and
   * verify I1-I4. `bootstrap` is the founding membership of a store holding no
   * Raft state yet, persisted as a snapshot at index 1 (see initialize); it is
   * ignored once the store has state.
   * Throws RaftError STORAGE when LevelDB fails or the stored state is inconsistent.
   */
  static async open(dir: string, opts: { bootstrap?: ConfState } = {}): Promise<LevelDBStorage> {
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (e) {
      throw storageError(`open ${dir}: LevelDB failed to open`, e);
    }
    try {
      const stored = await readStored(db);
      await initialize(db, stored, opts.bootstrap);
      const { cache, base } = buildCache(stored);
      return new LevelDBStorage(db, cache, base);
    } catch (e) {
      await db.close().catch(() => undefined);
      if (isRaftError(e)) throw new RaftError('STORAGE', `open ${dir}: ${e.message}`, { cause: e.cause ?? e });
      throw storageError(`open ${dir}: reading failed`, e);
    }
  }

  // ---- Storage: synchronous reads from the cache ----

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.cache.initialState();
  }

  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    return this.cache.entries(lo, hi, maxBytes);
  }

  term(i: LogIndex): Term {
    return this.cache.term(i);
  }

  lastIndex(): LogIndex {
    return this.cache.lastIndex();
  }

  firstIndex(): LogIndex {
    return this.cache.firstIndex();
  }

  snapshot(): Snapshot {
    return this.cache.snapshot();
  }

  // ---- DurableStorage: writes ----

  save(w: DurableWrite, sync: boolean): Promise<void> {
    return this.serialize(async () => {
      const plan = this.planSave(w);
      if (plan.ops.length === 0) return;
      await this.write(plan.ops, sync || plan.snapshot !== undefined, 'save');
      if (plan.snapshot !== undefined) this.cache.applySnapshot(plan.snapshot);
      this.cache.append(w.entries);
      if (w.hardState !== undefined) this.cache.setHardState(w.hardState);
      this.base = plan.base;
    });
  }

  saveConfState(cs: ConfState): Promise<void> {
    return this.serialize(async () => {
      await this.write([put(confStateKey, encodeConfState(cs))], true, 'saveConfState');
      this.cache.setConfState(cs);
    });
  }

  /**
   * Store a snapshot at applied index i, and make max(i - keepEntries, 0) the
   * new log base (unless already compacted past it): the last keepEntries
   * entries up to i stay readable for followers that are slightly behind.
   */
  snapshotAndCompact(i: LogIndex, conf: ConfState, data: Uint8Array, keepEntries: number): Promise<void> {
    return this.serialize(async () => {
      assert(Number.isSafeInteger(keepEntries) && keepEntries >= 0, () => `keepEntries ${keepEntries}`);
      const current = this.cache.snapshot().meta.index;
      if (i <= current) throw new RaftError('SNAPSHOT_OUT_OF_DATE', `snapshot ${i} <= ${current}`);
      assert(i <= this.cache.lastIndex(), () => `snapshot ${i} beyond last index ${this.cache.lastIndex()}`);
      const snap: Snapshot = { meta: { index: i, term: this.cache.term(i), conf }, data };
      const ops: BatchOp[] = [put(snapshotKey, encodeSnapshot(snap))];
      const compactIndex = index(Math.max(i - keepEntries, 0));
      let base = this.base;
      if (compactIndex > base.index) {
        deleteEntries(ops, base.index + 1, compactIndex);
        base = { index: compactIndex, term: this.cache.term(compactIndex) };
        ops.push(put(logBaseKey, encodeLogBase(base)));
      }
      await this.write(ops, true, 'snapshotAndCompact');
      this.cache.createSnapshot(i, conf, data);
      if (base !== this.base) this.cache.compact(base.index);
      this.base = base;
    });
  }

  /** Close after the writes already queued; later writes reject with STORAGE. */
  close(): Promise<void> {
    return this.serialize(async () => {
      try {
        await this.db.close();
      } catch (e) {
        throw storageError('close: LevelDB failed to close', e);
      }
    });
  }

  // ---- internals ----

  /** Run writes one at a time, so each plans against the cache every earlier write left. */
  private serialize(op: () => Promise<void>): Promise<void> {
    const run = this.tail.then(op);
    this.tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async write(ops: BatchOp[], sync: boolean, what: string): Promise<void> {
    if (this.failure !== undefined) {
      throw new RaftError('STORAGE', `${what}: refused, an earlier write failed`, { cause: this.failure });
    }
    try {
      await this.db.batch(ops, { sync });
    } catch (e) {
      this.failure = storageError(`${what}: LevelDB batch of ${ops.length} operations failed`, e);
      throw this.failure;
    }
  }

  /** The batch for one Ready's durable part; throws before any I/O when the write is invalid. */
  private planSave(w: DurableWrite): { ops: BatchOp[]; snapshot: Snapshot | undefined; base: LogBase } {
    const ops: BatchOp[] = [];
    let base = this.base;
    let last: number = this.cache.lastIndex();
    const snap = w.snapshot !== undefined && !isEmptySnapshot(w.snapshot) ? w.snapshot : undefined;
    if (snap !== undefined) {
      const current = this.cache.snapshot().meta.index;
      if (snap.meta.index <= current) throw new RaftError('SNAPSHOT_OUT_OF_DATE', `snapshot ${snap.meta.index} <= ${current}`);
      // Installing a snapshot replaces the whole log (Raft §7), as MemoryStorage.applySnapshot
      // does: entries past it came from an older leader and may conflict.
      deleteEntries(ops, base.index + 1, last);
      base = { index: snap.meta.index, term: snap.meta.term };
      last = base.index;
      ops.push(put(snapshotKey, encodeSnapshot(snap)), put(logBaseKey, encodeLogBase(base)));
      ops.push(put(confStateKey, encodeConfState(snap.meta.conf)));
    }
    const ents = entriesAfter(w.entries, base.index);
    const first = ents[0];
    if (first !== undefined) {
      assert(first.index <= last + 1, () => `missing log entry: last ${last}, appending at ${first.index}`);
      const newLast = first.index + ents.length - 1;
      // A new leader may replace a conflicting suffix (Raft §5.3). Stored entries in
      // [first, newLast] are overwritten by the puts below; those past newLast must go.
      deleteEntries(ops, newLast + 1, last);
      for (const e of ents) ops.push(put(entryKey(e.index), encodeEntry(e)));
      last = newLast;
    }
    if (w.hardState !== undefined) {
      const hs = w.hardState;
      assert(hs.commit <= last, () => `hard state commit ${hs.commit} beyond last index ${last}`);
      ops.push(put(hardStateKey, encodeHardState(hs)));
    }
    return { ops, snapshot: snap, base };
  }
}

// ---- write helpers ----

function put(key: Uint8Array, value: Uint8Array): BatchOp {
  return { type: 'put', key, value };
}

function deleteEntries(ops: BatchOp[], from: number, to: number): void {
  for (let i = from; i <= to; i++) ops.push({ type: 'del', key: entryKey(i) });
}

/** The contiguous run of `ents` after `base` (earlier ones are already covered by the base). */
function entriesAfter(ents: readonly Entry[], base: number): readonly Entry[] {
  for (let k = 1; k < ents.length; k++) {
    assert(ents[k]!.index === ents[0]!.index + k, () => `entries not contiguous at ${ents[k]!.index}`);
  }
  const first = ents[0];
  if (first === undefined || first.index > base) return ents;
  return ents.slice(base + 1 - first.index);
}

function storageError(message: string, cause: unknown): RaftError {
  const code = (cause as { code?: unknown } | null)?.code;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new RaftError('STORAGE', `${message}: ${typeof code === 'string' ? `${code} ` : ''}${detail}`, { cause });
}

function corrupt(message: string, cause?: unknown): RaftError {
  return new RaftError('STORAGE', `inconsistent store: ${message}`, cause === undefined ? {} : { cause });
}

// ---- encoding ----

function encodeHardState(hs: HardState): Uint8Array {
  return packr.pack({ term: hs.term, vote: hs.vote, commit: hs.commit });
}

function encodeConfState(cs: ConfState): Uint8Array {
  return packr.pack({ voters: cs.voters, learners: cs.learners });
}

function encodeSnapshot(s: Snapshot): Uint8Array {
  const conf = { voters: s.meta.conf.voters, learners: s.meta.conf.learners };
  return packr.pack({ index: s.meta.index, term: s.meta.term, conf, data: s.data });
}

function encodeLogBase(b: LogBase): Uint8Array {
  return packr.pack({ index: b.index, term: b.term });
}

function encodeEntry(e: Entry): Uint8Array {
  return packr.pack({ term: e.term, index: e.index, kind: e.kind, data: e.data });
}

type Rec = Record<string, unknown>;

function decodeRecord(what: string, raw: Uint8Array): Rec {
  let v: unknown;
  try {
    v = packr.unpack(raw);
  } catch (e) {
    throw corrupt(`${what} does not decode`, e);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw corrupt(`${what} is not a record`);
  return v as Rec;
}

function uintField(r: Rec, name: string, what: string): number {
  const n = r[name];
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw corrupt(`${what}.${name} is not a non-negative integer`);
  return n;
}

function bytesField(r: Rec, name: string, what: string): Uint8Array {
  const b = r[name];
  if (!(b instanceof Uint8Array)) throw corrupt(`${what}.${name} is not bytes`);
  // A plain Uint8Array view (msgpackr hands out Buffers), without copying.
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function nodeIdsField(r: Rec, name: string, what: string): NodeId[] {
  const a = r[name];
  if (!Array.isArray(a) || !a.every((x) => typeof x === 'string')) throw corrupt(`${what}.${name} is not a list of node ids`);
  return a as NodeId[];
}

function decodeHardState(raw: Uint8Array): HardState {
  const r = decodeRecord('hard state', raw);
  const vote = r['vote'];
  if (typeof vote !== 'string') throw corrupt('hard state.vote is not a node id');
  return {
    term: term(uintField(r, 'term', 'hard state')),
    vote: vote as NodeId,
    commit: index(uintField(r, 'commit', 'hard state')),
  };
}

function confFrom(r: Rec, what: string): ConfState {
  return { voters: nodeIdsField(r, 'voters', what), learners: nodeIdsField(r, 'learners', what) };
}

function decodeSnapshot(raw: Uint8Array): Snapshot {
  const r = decodeRecord('snapshot', raw);
  const conf = r['conf'];
  if (typeof conf !== 'object' || conf === null) throw corrupt('snapshot.conf is not a record');
  return {
    meta: {
      index: index(uintField(r, 'index', 'snapshot')),
      term: term(uintField(r, 'term', 'snapshot')),
      conf: confFrom(conf as Rec, 'snapshot.conf'),
    },
    data: bytesField(r, 'data', 'snapshot'),
  };
}

function decodeLogBase(raw: Uint8Array): LogBase {
  const r = decodeRecord('log base', raw);
  return { index: index(uintField(r, 'index', 'log base')), term: term(uintField(r, 'term', 'log base')) };
}

function decodeEntry(keyIndex: number, raw: Uint8Array): Entry {
  const what = `entry ${keyIndex}`;
  const r = decodeRecord(what, raw);
  const kind = r['kind'];
  if (kind !== 'normal' && kind !== 'conf') throw corrupt(`${what}.kind is ${String(kind)}`);
  const i = uintField(r, 'index', what);
  if (i !== keyIndex) throw corrupt(`${what} holds index ${i}`);
  return { term: term(uintField(r, 'term', what)), index: index(i), kind, data: bytesField(r, 'data', what) };
}

// ---- open: read, initialize, verify ----

interface Stored {
  format: number | undefined;
  hardState: HardState | undefined;
  confState: ConfState | undefined;
  snapshot: Snapshot | undefined;
  base: LogBase | undefined;
  /** Every stored entry in key order; contiguity is checked by buildCache. */
  entries: Entry[];
}

async function readStored(db: Db): Promise<Stored> {
  const [format, hs, cs, snap, base] = await db.getMany([formatKey, hardStateKey, confStateKey, snapshotKey, logBaseKey]);
  const entries: Entry[] = [];
  const range = { gte: Uint8Array.of(keyPrefix.entry), lt: Uint8Array.of(keyPrefix.entry + 1) };
  for await (const [k, v] of db.iterator(range)) {
    const i = entryKeyIndex(k);
    if (i === undefined) throw corrupt(`malformed entry key of ${k.byteLength} bytes`);
    entries.push(decodeEntry(i, v));
  }
  const formatValue = format === undefined ? undefined : decodeFormat(format);
  return {
    format: formatValue,
    hardState: hs === undefined ? undefined : decodeHardState(hs),
    confState: cs === undefined ? undefined : confFrom(decodeRecord('conf state', cs), 'conf state'),
    snapshot: snap === undefined ? undefined : decodeSnapshot(snap),
    base: base === undefined ? undefined : decodeLogBase(base),
    entries,
  };
}

function decodeFormat(raw: Uint8Array): number {
  let v: unknown;
  try {
    v = packr.unpack(raw);
  } catch (e) {
    throw corrupt('format marker does not decode', e);
  }
  if (v !== storageFormat) throw corrupt(`unknown format ${String(v)} (this code reads ${storageFormat})`);
  return v;
}

/**
 * Mark a new store with the format and, when it holds no Raft state, record the
 * founding membership as MemoryStorage.bootstrap does: a snapshot at index 1,
 * term 1 with an empty image, hard state term 1 commit 1. A node that joins later
 * learns the founding members only from that snapshot, sent by the leader.
 */
async function initialize(db: Db, stored: Stored, bootstrap: ConfState | undefined): Promise<void> {
  const hasState =
    stored.hardState !== undefined ||
    stored.confState !== undefined ||
    stored.snapshot !== undefined ||
    stored.base !== undefined ||
    stored.entries.length > 0;
  if (stored.format === undefined && hasState) throw corrupt('Raft state without a format marker');
  const ops: BatchOp[] = [];
  if (stored.format === undefined) ops.push(put(formatKey, packr.pack(storageFormat)));
  if (!hasState && bootstrap !== undefined) {
    const founding: Snapshot = { meta: { index: index(1), term: term(1), conf: bootstrap }, data: new Uint8Array(0) };
    stored.snapshot = founding;
    stored.base = { index: founding.meta.index, term: founding.meta.term };
    stored.confState = bootstrap;
    stored.hardState = { term: term(1), vote: emptyHardState.vote, commit: index(1) };
    ops.push(put(snapshotKey, encodeSnapshot(founding)), put(logBaseKey, encodeLogBase(stored.base)));
    ops.push(put(confStateKey, encodeConfState(bootstrap)), put(hardStateKey, encodeHardState(stored.hardState)));
  }
  if (ops.length > 0) await db.batch(ops, { sync: true });
}

/** Check I1-I4 and build the cache that mirrors the disk. */
function buildCache(stored: Stored): { cache: MemoryStorage; base: LogBase } {
  const snap = stored.snapshot;
  const s = snap?.meta.index ?? 0;
  const base = stored.base ?? noBase;
  if (base.index > s) throw corrupt(`log base ${base.index} beyond snapshot ${s}`);
  if (snap !== undefined && base.index === s && base.term !== snap.meta.term) {
    throw corrupt(`log base term ${base.term} differs from snapshot term ${snap.meta.term} at ${s}`);
  }
  checkEntries(stored.entries, base);
  const last = stored.entries.at(-1)?.index ?? base.index;
  if (snap !== undefined && base.index < s) {
    if (s > last) throw corrupt(`snapshot ${s} beyond last index ${last} with log base ${base.index}`);
    const t = stored.entries[s - base.index - 1]!.term;
    if (t !== snap.meta.term) throw corrupt(`snapshot term ${snap.meta.term} differs from entry ${s} term ${t}`);
  }
  const hs = stored.hardState ?? emptyHardState;
  if (hs.commit > last) throw corrupt(`hard state commit ${hs.commit} beyond last index ${last}`);
  if (stored.hardState !== undefined && hs.commit < base.index) {
    throw corrupt(`hard state commit ${hs.commit} below log base ${base.index}`);
  }

  const conf = stored.confState ?? { voters: [], learners: [] };
  // Built empty, so that before the first snapshot snapshot() is emptySnapshot
  // whatever the membership was when the store was created.
  const cache = new MemoryStorage();
  if (snap !== undefined && base.index > 0) {
    // The dummy entry at the base; when the base lies below the snapshot this
    // transient snapshot is replaced by createSnapshot below.
    const data = base.index === s ? snap.data : new Uint8Array(0);
    cache.applySnapshot({ meta: { index: base.index, term: base.term, conf: snap.meta.conf }, data });
  }
  cache.append(stored.entries);
  if (snap !== undefined && s > base.index) cache.createSnapshot(snap.meta.index, snap.meta.conf, snap.data);
  cache.setConfState(conf);
  cache.setHardState(hs);
  return { cache, base };
}

function checkEntries(entries: readonly Entry[], base: LogBase): void {
  let prev: { index: number; term: number } = base;
  for (const e of entries) {
    if (e.index <= base.index) throw corrupt(`entry ${e.index} at or below log base ${base.index}`);
    if (e.index !== prev.index + 1) throw corrupt(`gap in log: entry ${prev.index + 1} missing before ${e.index}`);
    if (e.term < prev.term) throw corrupt(`entry ${e.index} term ${e.term} below term ${prev.term} of entry ${prev.index}`);
    prev = e;
  }
}
