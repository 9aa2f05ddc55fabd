import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkLinearizable } from './sim/linearizability.ts';
import type { KvInput, KvOutput, Operation } from './sim/linearizability.ts';
import { seededRandom } from '../src/raft/random.ts';

// ---------- small builders ----------

let nextId = 1;
function op(client: number, call: number, ret: number | null, input: KvInput, output: KvOutput | null): Operation {
  return { id: nextId++, client, call, ret, input, output };
}
const get = (c: number, call: number, ret: number, value: string | null, key = 'k'): Operation =>
  op(c, call, ret, { kind: 'get', key }, { kind: 'get', value });
const put = (c: number, call: number, ret: number, value: string, key = 'k'): Operation =>
  op(c, call, ret, { kind: 'put', key, value }, { kind: 'put' });
const cas = (c: number, call: number, ret: number, expect: string | null, value: string, ok: boolean, key = 'k'): Operation =>
  op(c, call, ret, { kind: 'cas', key, expect, value }, { kind: 'cas', ok });
const pendingPut = (c: number, call: number, value: string, key = 'k'): Operation =>
  op(c, call, null, { kind: 'put', key, value }, null);
const pendingCas = (c: number, call: number, expect: string | null, value: string, key = 'k'): Operation =>
  op(c, call, null, { kind: 'cas', key, expect, value }, null);
const pendingGet = (c: number, call: number, key = 'k'): Operation => op(c, call, null, { kind: 'get', key }, null);

function assertOk(h: Operation[]): void {
  const r = checkLinearizable(h);
  assert.equal(r.ok, true, r.explanation);
  assert.notEqual(r.exhausted, true);
}
function assertViolation(h: Operation[], key = 'k'): string {
  const r = checkLinearizable(h);
  assert.equal(r.ok, false, 'expected a linearizability violation');
  assert.equal(r.key, key);
  assert.equal(typeof r.explanation, 'string');
  return r.explanation!;
}

// ---------- sequential ----------


/**
 * Play the ops in order of their linearization points `lp` against a register model and fill in
 * the outputs of completed ops: the history is then linearizable by construction.
 */
function assignOutputs(placed: readonly { op: Operation; lp: number; effective: boolean }[]): void {
  const state = new Map<string, string | null>();
  for (const g of [...placed].sort((a, b) => a.lp - b.lp)) {
    if (!g.effective) continue;
    const input = g.op.input;
    const cur = state.get(input.key) ?? null;
    let output: KvOutput;
    if (input.kind === 'get') output = { kind: 'get', value: cur };
    else if (input.kind === 'put') {
      state.set(input.key, input.value);
      output = { kind: 'put' };
    } else {
      const hit = cur === input.expect;
      if (hit) state.set(input.key, input.value);
      output = { kind: 'cas', ok: hit };
    }
    if (g.op.ret !== null) g.op.output = output;
  }
}

test('empty history is linearizable', () => {
  assert.deepEqual(checkLinearizable([]), { ok: true });
});

test('sequential: a correct register history', () => {
  assertOk([
    get(1, 0, 1, null),
    put(1, 2, 3, 'a'),
    get(1, 4, 5, 'a'),
    put(2, 6, 7, 'b'),
    get(1, 8, 9, 'b'),
    cas(2, 10, 11, 'b', 'c', true),
    get(1, 12, 13, 'c'),
    cas(1, 14, 15, 'b', 'd', false),
    get(2, 16, 17, 'c'),
    cas(1, 18, 19, null, 'e', false),
    cas(1, 20, 21, 'c', 'e', true),
    get(1, 22, 23, 'e'),
  ]);
});

test('sequential: a get of the wrong value is not linearizable', () => {
  assertViolation([put(1, 0, 1, 'a'), put(1, 2, 3, 'b'), get(1, 4, 5, 'a')]);
});

test('sequential: a get before any put must see null', () => {
  assertViolation([get(1, 0, 1, 'a'), put(1, 2, 3, 'a')]);
});

test('sequential: a cas reporting success against a different value is not linearizable', () => {
  assertViolation([put(1, 0, 1, 'a'), cas(1, 2, 3, 'x', 'b', true)]);
});

test('sequential: a cas reporting failure when it should succeed is not linearizable', () => {
  assertViolation([put(1, 0, 1, 'a'), cas(1, 2, 3, 'a', 'b', false)]);
});

test('sequential: cas with expect null succeeds only on an absent key', () => {
  assertOk([cas(1, 0, 1, null, 'a', true), get(1, 2, 3, 'a'), cas(1, 4, 5, null, 'b', false), get(1, 6, 7, 'a')]);
  assertViolation([cas(1, 0, 1, null, 'a', true), cas(1, 2, 3, null, 'b', true)]);
});

// ---------- classic concurrent examples ----------

test('concurrent: two overlapping puts, then a get may see either', () => {
  assertOk([put(1, 0, 10, 'x'), put(2, 1, 11, 'y'), get(3, 12, 13, 'x')]);
  assertOk([put(1, 0, 10, 'x'), put(2, 1, 11, 'y'), get(3, 12, 13, 'y')]);
});

test('concurrent: but two later gets must then agree', () => {
  assertViolation([put(1, 0, 10, 'x'), put(2, 1, 11, 'y'), get(3, 12, 13, 'x'), get(3, 14, 15, 'y')]);
});

test('concurrent: a get overlapping a put may see old or new value', () => {
  assertOk([put(1, 0, 1, 'x'), put(1, 2, 10, 'y'), get(2, 3, 4, 'x'), get(3, 5, 6, 'y')]);
});

test('concurrent: a get of a value never written is not linearizable', () => {
  assertViolation([put(1, 0, 10, 'x'), put(2, 1, 11, 'y'), get(3, 5, 13, 'z')]);
});

test('concurrent: a stale read after a completed write is not linearizable', () => {
  const explanation = assertViolation([put(1, 0, 1, 'x'), put(2, 2, 3, 'y'), get(3, 4, 5, 'x')]);
  assert.match(explanation, /Longest linearizable prefix: 2 ops, leaving the register at "y"/);
  assert.match(explanation, /get\("k"\) => "x"/);
});

test('ties: a call at the same tick as a return is treated as concurrent (lenient)', () => {
  assertOk([put(1, 0, 1, 'x'), put(2, 2, 3, 'y'), get(3, 3, 5, 'x')]);
  assertViolation([put(1, 0, 1, 'x'), put(2, 2, 3, 'y'), get(3, 4, 5, 'x')]);
});

test('concurrent: new value seen, then a later non-overlapping read sees the old value', () => {
  assertViolation([put(1, 0, 1, 'x'), put(2, 2, 20, 'y'), get(3, 3, 4, 'y'), get(3, 5, 6, 'x')]);
});

test('concurrent: the same reads, overlapping each other, are fine', () => {
  assertOk([put(1, 0, 1, 'x'), put(2, 2, 20, 'y'), get(3, 3, 6, 'y'), get(4, 5, 7, 'x')]);
});

// ---------- cas ----------

test('cas: two concurrent cas with the same expect cannot both succeed', () => {
  assertViolation([put(1, 0, 1, 'a'), cas(2, 2, 5, 'a', 'b', true), cas(3, 3, 6, 'a', 'c', true)]);
});

test('cas: two concurrent cas with the same expect, one wins', () => {
  assertOk([put(1, 0, 1, 'a'), cas(2, 2, 5, 'a', 'b', true), cas(3, 3, 6, 'a', 'c', false), get(1, 7, 8, 'b')]);
  assertViolation([put(1, 0, 1, 'a'), cas(2, 2, 5, 'a', 'b', true), cas(3, 3, 6, 'a', 'c', false), get(1, 7, 8, 'c')]);
});

test('cas: chained concurrent cas can both succeed in the right order', () => {
  assertOk([put(1, 0, 1, 'a'), cas(2, 2, 5, 'b', 'c', true), cas(3, 3, 6, 'a', 'b', true), get(1, 7, 8, 'c')]);
});

// ---------- pending ops ----------

test('pending: a pending put whose value is observed later is fine', () => {
  assertOk([put(1, 0, 1, 'x'), pendingPut(2, 2, 'y'), get(3, 5, 6, 'y'), get(3, 7, 8, 'y')]);
});

test('pending: a pending put never observed is fine', () => {
  assertOk([put(1, 0, 1, 'x'), pendingPut(2, 2, 'y'), get(3, 5, 6, 'x'), get(3, 7, 8, 'x')]);
});

test('pending: a pending put observed, then un-observed, is not linearizable', () => {
  assertViolation([put(1, 0, 1, 'x'), pendingPut(2, 2, 'y'), get(3, 3, 4, 'y'), get(3, 5, 6, 'x')]);
});

test('pending: a pending put cannot take effect before its call', () => {
  assertViolation([put(1, 0, 1, 'x'), get(3, 3, 4, 'y'), pendingPut(2, 10, 'y')]);
});

test('pending: a pending put may take effect long after its call, between later ops', () => {
  assertOk([pendingPut(2, 0, 'y'), put(1, 1, 2, 'x'), get(3, 3, 4, 'x'), get(3, 50, 51, 'y')]);
});

test('pending: a pending cas takes effect only if its expectation holds', () => {
  assertOk([put(1, 0, 1, 'a'), pendingCas(2, 2, 'a', 'b'), get(3, 5, 6, 'b')]);
  assertViolation([put(1, 0, 1, 'a'), pendingCas(2, 2, 'z', 'b'), get(3, 5, 6, 'b')]);
});

test('pending: pending gets are unconstrained and ignored', () => {
  assertOk([put(1, 0, 1, 'a'), pendingGet(2, 0), get(3, 5, 6, 'a')]);
  assertOk([pendingGet(2, 0)]);
  assertOk([pendingPut(2, 0, 'y')]);
});

// ---------- keys ----------

test('keys are independent: a violation is reported with its key', () => {
  const h = [
    put(1, 0, 1, 'a', 'alpha'),
    put(2, 0, 1, 'b', 'beta'),
    get(1, 2, 3, 'a', 'alpha'),
    // on 'beta', a stale read of null after 'b' completed
    get(2, 2, 3, null, 'beta'),
    // the same values on different keys do not interfere
    put(3, 4, 5, 'b', 'gamma'),
    get(3, 6, 7, 'b', 'gamma'),
  ];
  const explanation = assertViolation(h, 'beta');
  assert.match(explanation, /key "beta"/);
  assert.doesNotMatch(explanation, /"alpha"/);
  // values written to another key are not visible
  assertViolation([put(1, 0, 1, 'a', 'alpha'), get(2, 2, 3, 'a', 'beta')], 'beta');
});

// ---------- budget and validation ----------

test('budget: an exhausted search reports ok with exhausted set', () => {
  const h = [put(1, 0, 1, 'x'), put(2, 2, 3, 'y'), get(3, 4, 5, 'x')];
  const r = checkLinearizable(h, { stepsMax: 2 });
  assert.equal(r.ok, true);
  assert.equal(r.exhausted, true);
  assert.equal(checkLinearizable(h).ok, false);
});

test('budget: a violation on another key still wins over exhaustion', () => {
  const big = generate({ ops: 200, keys: 1, clients: 5, pendingRate: 0, seed: 7 }).map((o) => ({ ...o, id: o.id + 10_000 }));
  const h = [...big, put(1, 0, 1, 'x', 'other'), get(2, 2, 3, null, 'other')];
  const r = checkLinearizable(h, { stepsMax: 10 });
  assert.equal(r.ok, false);
  assert.equal(r.key, 'other');
});

test('malformed histories are rejected', () => {
  assert.throws(() => checkLinearizable([op(1, 5, 4, { kind: 'get', key: 'k' }, { kind: 'get', value: null })]), /before its call/);
  assert.throws(() => checkLinearizable([op(1, 0, null, { kind: 'get', key: 'k' }, { kind: 'get', value: null })]), /no return/);
  assert.throws(() => checkLinearizable([op(1, 0, 1, { kind: 'get', key: 'k' }, null)]), /no output/);
  assert.throws(() => checkLinearizable([op(1, 0, 1, { kind: 'get', key: 'k' }, { kind: 'put' })]), /output/);
  const a = get(1, 0, 1, null);
  assert.throws(() => checkLinearizable([a, { ...a }]), /duplicate/);
});

// ---------- generated histories ----------

/** mulberry32, the generator the simulator uses. */
const mulberry32 = (seed: number): (() => number) => seededRandom(seed).float;

interface GenOpts {
  ops: number;
  keys: number;
  clients: number;
  pendingRate: number;
  seed: number;
}

/**
 * Simulates a correct linearizable store: every op gets a random linearization point inside its
 * interval and is applied to a true register map in that order. Pending ops take effect (or not)
 * at a point inside the interval they would have had. Written values are unique.
 */
function generate(o: GenOpts): Operation[] {
  const rand = mulberry32(o.seed);
  const int = (n: number): number => Math.floor(rand() * n);
  const keys = Array.from({ length: o.keys }, (_, i) => `key${i}`);
  const written = new Map<string, string[]>(); // key -> values written so far (generation order, a hint for cas)
  const clientTime = new Array<number>(o.clients).fill(0);
  const ops: { op: Operation; lp: number; effective: boolean }[] = [];
  for (let id = 0; id < o.ops; id++) {
    // the client that is free earliest issues the next op
    let c = 0;
    for (let i = 1; i < o.clients; i++) if (clientTime[i]! < clientTime[c]!) c = i;
    const call = clientTime[c]!;
    const dur = 1 + int(8);
    const key = keys[int(keys.length)]!;
    const r = rand();
    let input: KvInput;
    if (r < 0.45) {
      input = { kind: 'get', key };
    } else if (r < 0.8) {
      input = { kind: 'put', key, value: `v${id}` };
    } else {
      const vals = written.get(key) ?? [];
      const expect = vals.length === 0 || rand() < 0.15 ? null : vals[Math.max(0, vals.length - 1 - int(3))]!;
      input = { kind: 'cas', key, expect, value: `v${id}` };
    }
    if (input.kind !== 'get') {
      const vals = written.get(key) ?? [];
      vals.push(input.value);
      written.set(key, vals);
    }
    const pending = rand() < o.pendingRate;
    const lp = call + rand() * dur;
    ops.push({
      op: { id, client: c, call, ret: pending ? null : call + dur, input, output: null },
      lp,
      effective: !pending || rand() < 0.5,
    });
    clientTime[c] = call + dur + (pending ? 5 : 0) + int(3); // gap 0..2: calls may coincide with returns
  }
  assignOutputs(ops);
  return ops.map((g) => g.op);
}

function isWrite(o: Operation): boolean {
  return o.input.kind === 'put' || o.input.kind === 'cas';
}

/**
 * Finds a completed get g with no completed write on its key overlapping its interval, the
 * latest-returning completed put p2 on that key that returned strictly before g was called, and
 * the latest completed put p1 with a different value that returned strictly before p2 was called.
 * Setting g's output to p1's value is then impossible: p1 < p2 < g in real time and written values
 * are unique, so p2 always lies between p1 and g (pending writes cannot help, their values differ).
 * Picks the latest such g, so the search has to get through most of the history. Mutates it.
 */
function injectStaleRead(h: Operation[]): { get: Operation; stale: string } {
  const byKey = new Map<string, Operation[]>();
  for (const o of h) {
    const list = byKey.get(o.input.key) ?? [];
    list.push(o);
    byKey.set(o.input.key, list);
  }
  let best: { get: Operation; stale: string } | undefined;
  for (const g of h) {
    if (g.input.kind !== 'get' || g.ret === null) continue;
    if (best !== undefined && g.call <= best.get.call) continue;
    const gCall = g.call;
    const gRet = g.ret;
    const sameKey = byKey.get(g.input.key)!;
    if (sameKey.some((o) => isWrite(o) && o.ret !== null && o.call <= gRet && o.ret >= gCall)) continue;
    let p2: Operation | undefined;
    for (const o of sameKey) {
      if (o.input.kind === 'put' && o.ret !== null && o.ret < gCall && (p2 === undefined || o.ret > p2.ret!)) p2 = o;
    }
    if (p2 === undefined || p2.input.kind !== 'put') continue;
    const p2Call = p2.call;
    const p2Value = p2.input.value;
    let p1: Operation | undefined;
    for (const o of sameKey) {
      if (o.input.kind === 'put' && o.ret !== null && o.ret < p2Call && o.input.value !== p2Value && (p1 === undefined || o.ret > p1.ret!)) p1 = o;
    }
    if (p1 === undefined || p1.input.kind !== 'put') continue;
    best = { get: g, stale: p1.input.value };
  }
  assert.ok(best !== undefined, 'no candidate get for a stale-read mutation');
  const out = best.get.output;
  assert.ok(out !== null && out.kind === 'get');
  assert.notEqual(out.value, best.stale, 'the simulated store should not have returned the stale value');
  best.get.output = { kind: 'get', value: best.stale };
  return best;
}

/** Reference checker: plain depth-first search over all orders, memoizing failed (set, state) pairs. */
function referenceCheck(history: readonly Operation[]): boolean {
  const byKey = new Map<string, Operation[]>();
  for (const o of history) byKey.set(o.input.key, [...(byKey.get(o.input.key) ?? []), o]);
  for (const ops of byKey.values()) {
    const used = ops.map(() => false);
    const completed = ops.filter((o) => o.ret !== null).length;
    const failed = new Set<string>();
    const search = (state: string | null, done: number): boolean => {
      if (done === completed) return true;
      const key = `${used.map((u) => (u ? 1 : 0)).join('')}|${JSON.stringify(state)}`;
      if (failed.has(key)) return false;
      let deadline = Infinity; // the earliest return among completed ops not yet placed
      ops.forEach((o, i) => {
        if (!used[i] && o.ret !== null) deadline = Math.min(deadline, o.ret);
      });
      for (let i = 0; i < ops.length; i++) {
        const o = ops[i]!;
        if (used[i] || o.call > deadline) continue;
        const after = applyReference(state, o);
        if (after === undefined) continue;
        used[i] = true;
        if (search(after, done + (o.ret === null ? 0 : 1))) return true;
        used[i] = false;
      }
      failed.add(key);
      return false;
    };
    if (!search(null, 0)) return false;
  }
  return true;
}

function applyReference(state: string | null, o: Operation): string | null | undefined {
  const { input, output } = o;
  if (input.kind === 'get') return output === null || (output.kind === 'get' && output.value === state) ? state : undefined;
  if (input.kind === 'put') return input.value;
  const hit = state === input.expect;
  if (output !== null && output.kind === 'cas' && output.ok !== hit) return undefined;
  return hit ? input.value : state;
}

/**
 * Random histories with few distinct values (so values repeat and many are never read), dense
 * overlaps, ties, pending ops of every kind, produced by a correct register, then each completed get
 * or cas output corrupted with probability `corruptRate`.
 */
function randomSmallHistory(rand: () => number, n: number, span: number, pendingRate: number, corruptRate: number): Operation[] {
  const values = ['a', 'b', 'c', 'd', 'e', 'f'];
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const placed: { op: Operation; lp: number; effective: boolean }[] = [];
  for (let id = 0; id < n; id++) {
    const call = Math.floor(rand() * span);
    const dur = Math.floor(rand() * 6);
    const key = rand() < 0.9 ? 'k' : 'j';
    const r = rand();
    const input: KvInput =
      r < 0.4
        ? { kind: 'get', key }
        : r < 0.7
          ? { kind: 'put', key, value: pick(values) }
          : { kind: 'cas', key, expect: rand() < 0.25 ? null : pick(values), value: pick(values) };
    const pending = rand() < pendingRate;
    const op: Operation = { id, client: id, call, ret: pending ? null : call + dur, input, output: null };
    placed.push({ op, lp: call + rand() * dur + (pending ? rand() * 10 : 0), effective: !pending || rand() < 0.5 });
  }
  assignOutputs(placed);
  for (const { op: o } of placed) {
    if (o.output === null || rand() >= corruptRate) continue;
    if (o.output.kind === 'get') o.output = { kind: 'get', value: rand() < 0.2 ? null : pick(values) };
    else if (o.output.kind === 'cas') o.output = { kind: 'cas', ok: !o.output.ok };
  }
  return placed.map((g) => g.op);
}

test('agrees with a reference search on random small histories', () => {
  const rand = mulberry32(2024);
  const counts = { ok: 0, violation: 0 };
  for (let t = 0; t < 3000; t++) {
    const h = randomSmallHistory(rand, 1 + Math.floor(rand() * 10), 12, 0.3, 0.1);
    const expected = referenceCheck(h);
    const r = checkLinearizable(h);
    assert.notEqual(r.exhausted, true);
    assert.equal(r.ok, expected, `history ${JSON.stringify(h)}\n${r.explanation ?? ''}`);
    counts[expected ? 'ok' : 'violation']++;
  }
  assert.ok(counts.ok > 300 && counts.violation > 300, JSON.stringify(counts));
});

test('agrees with a reference search on random medium histories (multi-word bitsets)', () => {
  const rand = mulberry32(77);
  const counts = { ok: 0, violation: 0 };
  for (let t = 0; t < 300; t++) {
    const n = 30 + Math.floor(rand() * 50);
    const h = randomSmallHistory(rand, n, 2 * n, 0.08, 0.01);
    const expected = referenceCheck(h);
    const r = checkLinearizable(h);
    assert.notEqual(r.exhausted, true);
    assert.equal(r.ok, expected, `history ${JSON.stringify(h)}\n${r.explanation ?? ''}`);
    counts[expected ? 'ok' : 'violation']++;
  }
  assert.ok(counts.ok > 20 && counts.violation > 20, JSON.stringify(counts));
});

test('generated: a simulated linearizable register (3000 ops, 5 clients, pending ops) checks ok', () => {
  for (const seed of [1, 2, 3]) {
    const h = generate({ ops: 3000, keys: 1, clients: 5, pendingRate: 0.01, seed });
    assert.ok(h.some((o) => o.ret === null), 'expected some pending ops');
    const t0 = performance.now();
    const r = checkLinearizable(h);
    const ms = performance.now() - t0;
    assert.equal(r.ok, true, r.explanation);
    assert.notEqual(r.exhausted, true);
    console.log(`  seed ${seed}: 3000 ops on one key checked ok in ${ms.toFixed(1)} ms`);
  }
});

test('generated: one stale read injected into the register history is caught', () => {
  const runs = [
    { seed: 1, pendingRate: 0.01 },
    { seed: 2, pendingRate: 0.01 },
    { seed: 3, pendingRate: 0.01 },
    { seed: 4, pendingRate: 0.05 },
  ];
  for (const { seed, pendingRate } of runs) {
    const h = generate({ ops: 3000, keys: 1, clients: 5, pendingRate, seed });
    const { get: g, stale } = injectStaleRead(h);
    const t0 = performance.now();
    const r = checkLinearizable(h);
    const ms = performance.now() - t0;
    assert.equal(r.ok, false, `seed ${seed}: stale read #${g.id} of ${stale} not detected`);
    assert.equal(r.key, 'key0');
    assert.notEqual(r.exhausted, true);
    assert.ok(r.explanation!.includes(`#${g.id} `), 'explanation should show the mutated get');
    const lastTick = Math.max(...h.map((o) => o.ret ?? o.call));
    const pending = h.filter((o) => o.ret === null).length;
    console.log(`  seed ${seed}: stale read #${g.id} at tick ${g.call} of ${lastTick} (${h.length} ops, ${pending} pending) found in ${ms.toFixed(1)} ms`);
  }
});

test('generated: a simulated store with 20 keys and cas-heavy contention checks ok', () => {
  for (let seed = 10; seed < 20; seed++) {
    const h = generate({ ops: 1000, keys: 20, clients: 8, pendingRate: 0.03, seed });
    const r = checkLinearizable(h);
    assert.equal(r.ok, true, r.explanation);
  }
});

test('timing: 5000 ops over 20 keys, 5 clients, some pending', () => {
  const h = generate({ ops: 5000, keys: 20, clients: 5, pendingRate: 0.02, seed: 42 });
  const pending = h.filter((o) => o.ret === null).length;
  let t0 = performance.now();
  const r = checkLinearizable(h);
  const okMs = performance.now() - t0;
  assert.equal(r.ok, true, r.explanation);
  assert.notEqual(r.exhausted, true);

  const { get: g } = injectStaleRead(h);
  t0 = performance.now();
  const bad = checkLinearizable(h);
  const badMs = performance.now() - t0;
  assert.equal(bad.ok, false);
  assert.equal(bad.key, g.input.key);

  console.log(`  5000 ops (${pending} pending) over 20 keys: ok in ${okMs.toFixed(1)} ms; with one stale read: violation found in ${badMs.toFixed(1)} ms`);
  assert.ok(okMs < 5000, `linearizable check took ${okMs} ms`);
  assert.ok(badMs < 5000, `violating check took ${badMs} ms`);
});
