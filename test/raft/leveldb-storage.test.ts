// Tests of LevelDBStorage: durability across reopen, truncation, snapshots, corruption, SIGKILL, throughput.
// Each test uses its own directory under os.tmpdir() and removes it; nothing here needs a network.

import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import {
  type ConfState,
  type Entry,
  type HardState,
  RawNode,
  type Snapshot,
  index,
  isRaftError,
  nodeId,
  seededRandom,
  term,
} from '../../src/raft/index.ts';
import { LevelDBStorage, entryKey, keyPrefix } from '../../src/raft/leveldb-storage.ts';
import { MemoryDurableStorage } from '../../src/raft/memory-durable-storage.ts';
import type { DurableStorage } from '../../src/raft/storage.ts';
import { crashEntryData } from './fixtures/leveldb-crash-writer.ts';
import { scratchDirs } from '../helpers/temp-dirs.ts';
import { runUntilKilled } from '../helpers/crash-child.ts';

const conf3: ConfState = { voters: [nodeId('n1'), nodeId('n2'), nodeId('n3')], learners: [] };
const packr = new Packr({ useRecords: false });
const crashWriter = new URL('./fixtures/leveldb-crash-writer.ts', import.meta.url).pathname;

const tempDir = scratchDirs('stormo-leveldb-storage-');

function ent(i: number, t: number, data = `e${i}t${t}`): Entry {
  return { term: term(t), index: index(i), kind: i % 5 === 0 ? 'conf' : 'normal', data: new TextEncoder().encode(data) };
}
function ents(lo: number, hi: number, t: number): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push(ent(i, t));
  return out;
}
function hs(t: number, commit: number, vote = 'n1'): HardState {
  return { term: term(t), vote: nodeId(vote), commit: index(commit) };
}
function snapshotAt(i: number, t: number, data = `snap${i}`): Snapshot {
  return { meta: { index: index(i), term: term(t), conf: conf3 }, data: new TextEncoder().encode(data) };
}
function allEntries(s: DurableStorage): Entry[] {
  if (s.lastIndex() < s.firstIndex()) return [];
  return s.entries(s.firstIndex(), index(s.lastIndex() + 1), Infinity);
}

/** Everything the core can read, in one comparable value. */
function view(s: DurableStorage): unknown {
  const terms: number[] = [];
  for (let i = s.firstIndex() - 1; i <= s.lastIndex(); i++) terms.push(s.term(index(i)));
  return {
    first: s.firstIndex(),
    last: s.lastIndex(),
    terms,
    entries: allEntries(s),
    snapshot: s.snapshot(),
    initial: s.initialState(),
  };
}

async function reopen(s: LevelDBStorage, dir: string): Promise<LevelDBStorage> {
  await s.close();
  return LevelDBStorage.open(dir);
}

test('round trip: entries, terms, hard state and conf state survive close and reopen', async () => {
  const dir = await tempDir();
  let s = await LevelDBStorage.open(dir);
  await s.save({ entries: ents(1, 3, 1), hardState: hs(1, 2), snapshot: undefined }, true);
  await s.save({ entries: ents(4, 7, 2), hardState: hs(2, 6, 'n2'), snapshot: undefined }, true);
  await s.saveConfState(conf3);
  await s.saveConfState({ voters: conf3.voters, learners: [nodeId('n4')] });
  const before = view(s);
  s = await reopen(s, dir);
  assert.deepEqual(view(s), before);
  assert.deepEqual(allEntries(s), [...ents(1, 3, 1), ...ents(4, 7, 2)]);
  assert.deepEqual(s.initialState(), { hardState: hs(2, 6, 'n2'), confState: { voters: conf3.voters, learners: ['n4'] } });
  assert.equal(s.firstIndex(), 1);
  assert.equal(s.lastIndex(), 7);
  assert.equal(s.term(index(0)), 0);
  assert.equal(s.term(index(5)), 2);
  await s.close();
});

test('bootstrap records the founding membership as a snapshot at index 1, once', async () => {
  // The same state as MemoryStorage.bootstrap: a node added later learns the founders from this snapshot.
  const dir = await tempDir();
  const founding: Snapshot = { meta: { index: index(1), term: term(1), conf: conf3 }, data: new Uint8Array(0) };
  const check = (st: LevelDBStorage): void => {
    assert.deepEqual(st.initialState(), { hardState: hs(1, 1, ''), confState: conf3 });
    assert.deepEqual(st.snapshot(), founding);
    assert.deepEqual([st.firstIndex(), st.lastIndex(), st.term(index(1))], [2, 1, 1]);
  };
  let s = await LevelDBStorage.open(dir, { bootstrap: conf3 });
  check(s);
  await s.close();
  s = await LevelDBStorage.open(dir, { bootstrap: { voters: [nodeId('x')], learners: [] } });
  check(s);
  await s.save({ entries: ents(2, 3, 2), hardState: hs(2, 3), snapshot: undefined }, true);
  s = await reopen(s, dir);
  assert.deepEqual(s.snapshot(), founding);
  assert.deepEqual(allEntries(s), ents(2, 3, 2));
  await s.close();

  const plain = await tempDir();
  s = await LevelDBStorage.open(plain);
  assert.deepEqual(s.initialState(), { hardState: hs(0, 0, ''), confState: { voters: [], learners: [] } });
  assert.equal(s.lastIndex(), 0);
  await s.close();
});

test('a second open of the same directory fails with STORAGE (LevelDB lock)', async () => {
  const dir = await tempDir();
  const s = await LevelDBStorage.open(dir);
  await assert.rejects(LevelDBStorage.open(dir), (e) => isRaftError(e, 'STORAGE') && /open/.test(e.message));
  await s.close();
});

test('truncation: a new leader replaces a conflicting suffix (Raft §5.3)', async () => {
  const dir = await tempDir();
  let s = await LevelDBStorage.open(dir);
  await s.save({ entries: ents(1, 10, 1), hardState: hs(1, 5), snapshot: undefined }, true);
  await s.save({ entries: ents(6, 8, 2), hardState: hs(2, 5), snapshot: undefined }, true);
  const expected = [...ents(1, 5, 1), ...ents(6, 8, 2)];
  assert.deepEqual(allEntries(s), expected);
  s = await reopen(s, dir);
  assert.deepEqual(allEntries(s), expected);
  assert.equal(s.lastIndex(), 8);
  assert.equal(s.term(index(8)), 2);
  assert.throws(() => s.term(index(9)), (e) => isRaftError(e, 'UNAVAILABLE'));
  await s.close();
  // The disk itself holds nothing past 8: a stale 9 or 10 would resurface after a later append.
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  assert.equal(await db.get(entryKey(9)), undefined);
  assert.equal(await db.get(entryKey(10)), undefined);
  await db.close();
});

test('snapshot installed through save() replaces the whole log (Raft §7)', async () => {
  const dir = await tempDir();
  let s = await LevelDBStorage.open(dir);
  await s.save({ entries: ents(1, 10, 1), hardState: hs(1, 4), snapshot: undefined }, true);
  const snap = snapshotAt(7, 3);
  await s.save({ entries: ents(8, 9, 3), hardState: hs(3, 7), snapshot: snap }, false);
  const check = (st: LevelDBStorage): void => {
    assert.equal(st.firstIndex(), 8);
    assert.equal(st.lastIndex(), 9);
    assert.equal(st.term(index(7)), 3);
    assert.throws(() => st.term(index(6)), (e) => isRaftError(e, 'COMPACTED'));
    assert.deepEqual(st.snapshot(), snap);
    assert.deepEqual(allEntries(st), ents(8, 9, 3));
    assert.deepEqual(st.initialState(), { hardState: hs(3, 7), confState: conf3 });
  };
  check(s);
  s = await reopen(s, dir);
  check(s);
  // An older snapshot is refused before anything is written.
  await assert.rejects(s.save({ entries: [], hardState: hs(9, 9), snapshot: snapshotAt(5, 1) }, true), (e) =>
    isRaftError(e, 'SNAPSHOT_OUT_OF_DATE'),
  );
  s = await reopen(s, dir);
  check(s);
  await s.close();
});

test('snapshotAndCompact keeps the requested tail, and reopen agrees', async () => {
  const dir = await tempDir();
  let s = await LevelDBStorage.open(dir);
  await s.save({ entries: ents(1, 20, 1), hardState: hs(1, 20), snapshot: undefined }, true);
  await s.snapshotAndCompact(index(15), conf3, new TextEncoder().encode('sm@15'), 5);
  const check = (st: LevelDBStorage): void => {
    assert.equal(st.firstIndex(), 11); // entries 11..15 kept below the snapshot, plus 16..20
    assert.equal(st.lastIndex(), 20);
    assert.equal(st.term(index(10)), 1);
    assert.throws(() => st.term(index(9)), (e) => isRaftError(e, 'COMPACTED'));
    assert.equal(st.snapshot().meta.index, 15);
    assert.equal(st.snapshot().meta.term, 1);
    assert.deepEqual(allEntries(st), ents(11, 20, 1));
  };
  check(s);
  s = await reopen(s, dir);
  check(s);
  // keepEntries beyond what is left compacts nothing more; the snapshot still moves.
  await s.snapshotAndCompact(index(17), conf3, new TextEncoder().encode('sm@17'), 100);
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.snapshot().meta.index, 17);
  await s.snapshotAndCompact(index(20), conf3, new TextEncoder().encode('sm@20'), 0);
  s = await reopen(s, dir);
  assert.equal(s.firstIndex(), 21);
  assert.equal(s.lastIndex(), 20);
  assert.equal(s.term(index(20)), 1);
  assert.deepEqual(new TextDecoder().decode(s.snapshot().data), 'sm@20');
  await s.save({ entries: ents(21, 22, 2), hardState: hs(2, 22), snapshot: undefined }, true);
  s = await reopen(s, dir);
  assert.deepEqual(allEntries(s), ents(21, 22, 2));
  await s.close();
});

test('snapshotAndCompact with no compaction before the snapshot keeps entry 1 readable', async () => {
  // A snapshot above entries that were never compacted must not be mistaken for the log start.
  const dir = await tempDir();
  let s = await LevelDBStorage.open(dir);
  await s.save({ entries: ents(1, 10, 1), hardState: hs(1, 10), snapshot: undefined }, true);
  await s.snapshotAndCompact(index(5), conf3, new Uint8Array([5]), 10);
  s = await reopen(s, dir);
  assert.equal(s.firstIndex(), 1);
  assert.equal(s.snapshot().meta.index, 5);
  assert.deepEqual(allEntries(s), ents(1, 10, 1));
  await s.close();
});

/** Build a valid store, damage it through raw LevelDB, and expect open() to name the damage. */
async function expectCorrupt(damage: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<void>, pattern: RegExp): Promise<void> {
  const dir = await tempDir();
  const s = await LevelDBStorage.open(dir);
  await s.save({ entries: ents(1, 10, 1), hardState: hs(1, 8), snapshot: undefined }, true);
  await s.snapshotAndCompact(index(6), conf3, new Uint8Array([6]), 2);
  await s.close();
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await damage(db);
  await db.close();
  await assert.rejects(LevelDBStorage.open(dir), (e) => {
    assert.ok(isRaftError(e, 'STORAGE'), `expected RaftError STORAGE, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
  // open() released the LevelDB lock even though it failed.
  const again = new ClassicLevel(dir);
  await again.open();
  await again.close();
}

test('open() detects a gap in the log', async () => {
  await expectCorrupt((db) => db.del(entryKey(7)), /gap in log: entry 7 missing before 8/);
});

test('open() detects other inconsistent states', async () => {
  const put = (k: Uint8Array, v: unknown) => (db: ClassicLevel<Uint8Array, Uint8Array>) => db.put(k, packr.pack(v));
  const hsKey = Uint8Array.of(keyPrefix.hardState);
  await expectCorrupt(put(hsKey, { term: 1, vote: 'n1', commit: 11 }), /commit 11 beyond last index 10/);
  await expectCorrupt(put(entryKey(2), { term: 1, index: 2, kind: 'normal', data: new Uint8Array(0) }), /entry 2 at or below log base 4/);
  await expectCorrupt(put(entryKey(9), { term: 0, index: 9, kind: 'normal', data: new Uint8Array(0) }), /entry 9 term 0 below term 1/);
  await expectCorrupt(put(entryKey(9), { term: 1, index: 8, kind: 'normal', data: new Uint8Array(0) }), /entry 9 holds index 8/);
  await expectCorrupt((db) => db.put(entryKey(9), Uint8Array.of(0x84, 0xa1)), /entry 9 does not decode/);
  await expectCorrupt((db) => db.del(entryKey(5)).then(() => db.del(entryKey(6))), /gap in log: entry 5 missing before 7/);
  await expectCorrupt(put(Uint8Array.of(keyPrefix.snapshot), { index: 6, term: 2, conf: conf3, data: new Uint8Array(0) }), /snapshot term 2 differs from entry 6 term 1/);
  await expectCorrupt(put(Uint8Array.of(keyPrefix.logBase), { index: 7, term: 1 }), /log base 7 beyond snapshot 6/);
  await expectCorrupt(put(Uint8Array.of(keyPrefix.format), 2), /unknown format 2/);
});

test('a save() on a closed database rejects with STORAGE and leaves the cache unchanged', async () => {
  const dir = await tempDir();
  const s = await LevelDBStorage.open(dir);
  await s.save({ entries: ents(1, 3, 1), hardState: hs(1, 2), snapshot: undefined }, true);
  const before = view(s);
  await s.close();
  await assert.rejects(s.save({ entries: ents(3, 5, 2), hardState: hs(2, 4), snapshot: snapshotAt(2, 1) }, true), (e) => {
    assert.ok(isRaftError(e, 'STORAGE'), `expected RaftError STORAGE, got ${String(e)}`);
    assert.equal((e.cause as { code?: string }).code, 'LEVEL_DATABASE_NOT_OPEN');
    return true;
  });
  assert.deepEqual(view(s), before);
  await assert.rejects(s.saveConfState(conf3), (e) => isRaftError(e, 'STORAGE'));
  await assert.rejects(s.snapshotAndCompact(index(3), conf3, new Uint8Array(0), 0), (e) => isRaftError(e, 'STORAGE'));
  assert.deepEqual(view(s), before);
  const reopened = await LevelDBStorage.open(dir);
  assert.deepEqual(view(reopened), before);
  await reopened.close();
});

test('LevelDBStorage matches MemoryDurableStorage over random writes and reopens', async () => {
  const seed = Number(process.env['STORMO_SEED'] ?? Date.now() % 2 ** 31);
  console.log(`leveldb-storage model test seed ${seed} (replay with STORMO_SEED=${seed})`);
  const rnd = seededRandom(seed);
  const dir = await tempDir();
  let disk = await LevelDBStorage.open(dir);
  await disk.saveConfState(conf3);
  const model = new MemoryDurableStorage();
  model.setConfState(conf3);
  let t = 1;
  let commit = 0;
  for (let step = 0; step < 300; step++) {
    const op = rnd.int(10);
    const both = (f: (s: DurableStorage) => Promise<void>) => Promise.all([f(disk), f(model)]);
    if (op < 5) {
      // Leader or follower append, possibly replacing an uncommitted suffix.
      if (rnd.int(4) === 0) t++;
      const lo = Math.max(commit + 1, model.firstIndex()) + rnd.int(model.lastIndex() + 2 - Math.max(commit + 1, model.firstIndex()));
      const hi = lo + rnd.int(8);
      commit = Math.max(commit, Math.min(hi, commit + rnd.int(6)));
      const sync = rnd.int(2) === 0;
      await both((s) => s.save({ entries: ents(lo, hi, t), hardState: hs(t, commit), snapshot: undefined }, sync));
    } else if (op < 7) {
      const si = model.snapshot().meta.index;
      if (commit > si) {
        const i = si + 1 + rnd.int(commit - si);
        const keep = rnd.int(8);
        await both((s) => s.snapshotAndCompact(index(i), conf3, new Uint8Array([i & 0xff]), keep));
      }
    } else if (op === 7) {
      // Follower installs a leader's snapshot beyond its commit.
      t++;
      commit = commit + 1 + rnd.int(10);
      const w = { entries: ents(commit + 1, commit + rnd.int(3), t), hardState: hs(t, commit), snapshot: snapshotAt(commit, t) };
      await both((s) => s.save(w, true));
    } else if (op === 8) {
      const cs: ConfState = { voters: conf3.voters, learners: rnd.int(2) === 0 ? [] : [nodeId(`l${step}`)] };
      await both((s) => s.saveConfState(cs));
    } else {
      disk = await reopen(disk, dir);
    }
    assert.deepEqual(view(disk), view(model), `step ${step} op ${op} (seed ${seed})`);
  }
  disk = await reopen(disk, dir);
  assert.deepEqual(view(disk), view(model), `after final reopen (seed ${seed})`);
  await disk.close();
});

/** One node's Ready loop over durable storage: persist (sync if mustSync), then advance. */
async function drain(node: RawNode, s: DurableStorage): Promise<number> {
  let applied = 0;
  while (node.hasReady()) {
    const rd = node.ready();
    await s.save({ entries: rd.entries, hardState: rd.hardState, snapshot: rd.snapshot }, rd.mustSync);
    applied += rd.committedEntries.length;
    node.advance(rd);
  }
  return applied;
}

test('a RawNode restarts from what its Ready loop persisted', async () => {
  const dir = await tempDir();
  const id = nodeId('n1');
  const single: ConfState = { voters: [id], learners: [] };
  let s = await LevelDBStorage.open(dir, { bootstrap: single });
  let node = new RawNode({ id, storage: s, random: seededRandom(1) });
  node.campaign();
  await drain(node, s);
  assert.equal(node.status().role, 'leader');
  for (let k = 0; k < 5; k++) node.propose(new TextEncoder().encode(`p${k}`));
  await drain(node, s);
  const { term: t, commit, lastIndex } = node.status();
  assert.equal(commit, lastIndex);
  s = await reopen(s, dir);
  node = new RawNode({ id, storage: s, random: seededRandom(2) });
  const st = node.status();
  assert.deepEqual([st.term, st.commit, st.lastIndex, st.role], [t, commit, lastIndex, 'follower']);
  assert.deepEqual(
    allEntries(s).filter((e) => e.data.byteLength > 0).map((e) => new TextDecoder().decode(e.data)),
    ['p0', 'p1', 'p2', 'p3', 'p4'],
  );
  await s.close();
});

interface CrashRun {
  acks: Map<number, number>; // index -> term
  snapshotMax: number;
  lines: number;
}

/** Start the writer, SIGKILL it `delayMs` after it reported open, collect complete acknowledgement lines. */
async function crashRun(dir: string, t: number, seed: number, delayMs: number): Promise<CrashRun> {
  const run: CrashRun = { acks: new Map(), snapshotMax: 0, lines: 0 };
  run.lines = await runUntilKilled(crashWriter, [dir, String(t), String(seed)], {
    delayMs,
    safetyMs: 30_000,
    onLine: (line) => {
      const [kind, a, b, c] = line.split(' ');
      if (kind === 'ack') for (let i = Number(a); i <= Number(b); i++) run.acks.set(i, Number(c));
      else if (kind === 'snap') run.snapshotMax = Math.max(run.snapshotMax, Number(a));
    },
  });
  return run;
}

function checkSurvivors(s: LevelDBStorage, acks: ReadonlyMap<number, number>, snapshotMax: number): void {
  assert.ok(s.snapshot().meta.index >= snapshotMax, `snapshot ${s.snapshot().meta.index} < acknowledged ${snapshotMax}`);
  const log = allEntries(s);
  for (const [k, e] of log.entries()) {
    assert.equal(e.index, s.firstIndex() + k, 'log not contiguous');
    // Unacknowledged entries may survive too, but never torn.
    assert.deepEqual(e.data, crashEntryData(e.index, e.term), `entry ${e.index} payload`);
  }
  for (const [i, t] of acks) {
    assert.ok(i <= s.lastIndex(), `acknowledged entry ${i} lost (last ${s.lastIndex()})`);
    if (i < s.firstIndex()) continue; // compacted into an acknowledged snapshot
    assert.equal(s.term(index(i)), t, `entry ${i} term`);
  }
}

test('crash safety: every acknowledged write survives SIGKILL', async () => {
  const seed = Number(process.env['STORMO_SEED'] ?? Date.now() % 2 ** 31);
  console.log(`leveldb-storage crash test seed ${seed} (replay with STORMO_SEED=${seed})`);
  const rnd = seededRandom(seed);
  const dir = await tempDir();
  const acks = new Map<number, number>();
  let snapshotMax = 0;
  for (let run = 0; run < 5; run++) {
    const delayMs = 100 + rnd.int(301);
    const r = await crashRun(dir, run + 1, seed + run, delayMs);
    for (const [i, t] of r.acks) acks.set(i, t);
    snapshotMax = Math.max(snapshotMax, r.snapshotMax);
    assert.ok(r.acks.size > 0, `run ${run}: nothing acknowledged in ${delayMs} ms`);
    const s = await LevelDBStorage.open(dir);
    console.log(
      `crash run ${run}: killed after ${delayMs} ms, ${r.acks.size} entries acknowledged, log ${s.firstIndex()}..${s.lastIndex()}`,
    );
    checkSurvivors(s, acks, snapshotMax);
    await s.close();
  }
  // The store keeps working after the last crash.
  let s = await LevelDBStorage.open(dir);
  const first = s.lastIndex() + 1;
  const more: Entry[] = [];
  for (let i = first; i < first + 10; i++) more.push({ term: term(6), index: index(i), kind: 'normal', data: crashEntryData(i, 6) });
  await s.save({ entries: more, hardState: hs(6, first + 9), snapshot: undefined }, true);
  for (const e of more) acks.set(e.index, 6);
  s = await reopen(s, dir);
  checkSurvivors(s, acks, snapshotMax);
  assert.equal(s.lastIndex(), first + 9);
  await s.close();
});

test('throughput of synced saves (printed, not asserted)', async () => {
  const durationMs = 1000;
  const payload = new Uint8Array(200).fill(0x61);
  for (const batch of [1, 64]) {
    const dir = await tempDir();
    const s = await LevelDBStorage.open(dir);
    let next = 1;
    let saves = 0;
    const start = performance.now();
    while (performance.now() - start < durationMs) {
      const es: Entry[] = [];
      for (let k = 0; k < batch; k++, next++) es.push({ term: term(1), index: index(next), kind: 'normal', data: payload });
      await s.save({ entries: es, hardState: hs(1, next - 1), snapshot: undefined }, true);
      saves++;
    }
    const secs = (performance.now() - start) / 1000;
    console.log(
      `synced saves, ${batch} x 200 B entries: ${Math.round(saves / secs)} saves/s, ${Math.round((saves * batch) / secs)} entries/s`,
    );
    await s.close();
  }
});
