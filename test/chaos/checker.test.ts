// The chaos checker and the nemesis plan: each violation kind is detected, a clean history passes,
// and the same seed gives the same plan.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AccountView, type Delivery, type NodeView, check, maxUnavailableMs } from '../../chaos/checker.ts';
import { nemesisLimits, planFaults } from '../../chaos/nemesis.ts';

const d = (id: string, startMs: number, ackMs: number | null, account = 'u1'): Delivery => ({ id, account, sha256: `h-${id}`, startMs, ackMs });
const m = (id: string, uid: number, flags: string[] = []) => ({ id, uid, sha256: `h-${id}`, flags });
const view = (node: string, messages: ReturnType<typeof m>[], uidValidity = 7): NodeView => ({
  node,
  accounts: new Map<string, AccountView>([['u1', { uidValidity, messages }]]),
});

test('a clean history passes on every node', () => {
  const deliveries = [d('a', 0, 10), d('b', 5, 20), d('c', 30, null)];
  const views = [view('n1', [m('a', 1, ['$k1']), m('b', 2)]), view('n2', [m('a', 1, ['$k1']), m('b', 2)])];
  const r = check(deliveries, views, [{ account: 'u1', id: 'a', keyword: '$k1' }], []);
  assert.deepEqual([r.accepted, r.lost, r.duplicated, r.uidViolations, r.flagsLost, r.divergentNodes], [2, 0, 0, 0, 0, 0], r.problems.join('\n'));
});

test('lost, changed, duplicated messages and lost flags are counted per node', () => {
  const deliveries = [d('a', 0, 10), d('b', 5, 20)];
  const r = check(deliveries, [view('n1', [m('a', 1), m('a', 2)]), view('n2', [m('a', 1), { ...m('b', 2), sha256: 'other' }])], [
    { account: 'u1', id: 'a', keyword: '$k' },
  ], []);
  assert.equal(r.lost, 2, 'b missing on n1, different on n2');
  assert.equal(r.duplicated, 1);
  assert.equal(r.flagsLost, 2);
  assert.equal(r.divergentNodes, 1);
});

test('UID violations: a changed UIDVALIDITY, a UID that moved, a later delivery with a smaller UID', () => {
  const deliveries = [d('a', 0, 10), d('b', 20, 30)];
  assert.equal(check(deliveries, [view('n1', [m('a', 1), m('b', 2)])], [], [{ account: 'u1', uidValidity: 8, id: 'a', uid: 1 }]).uidViolations, 1);
  assert.equal(check(deliveries, [view('n1', [m('a', 1), m('b', 2)])], [], [{ account: 'u1', uidValidity: 7, id: 'a', uid: 3 }]).uidViolations, 1);
  assert.equal(check(deliveries, [view('n1', [m('b', 1), m('a', 2)])], [], []).uidViolations, 1, 'b started after a was acknowledged');
  const concurrent = [d('a', 0, 10), d('b', 5, 30)];
  assert.equal(check(concurrent, [view('n1', [m('b', 1), m('a', 2)])], [], []).uidViolations, 0, 'concurrent deliveries may go either way');
});

test('max unavailable is the longest stretch without a 250', () => {
  assert.equal(maxUnavailableMs([d('a', 0, 100), d('b', 0, 1600), d('c', 0, 1700)], 0, 2000), 1500);
  assert.equal(maxUnavailableMs([], 0, 2000), 2000);
});

test('the nemesis plan is a function of the seed, one fault at a time, inside the run', () => {
  const a = planFaults(42, 3, 60_000);
  assert.deepEqual(a, planFaults(42, 3, 60_000));
  assert.notDeepEqual(a, planFaults(43, 3, 60_000));
  assert.ok(a.length >= 5);
  for (let i = 0; i < a.length; i++) {
    const f = a[i]!;
    assert.ok(f.atMs >= nemesisLimits.warmupMs && f.atMs + f.durationMs <= 60_000 - nemesisLimits.cooldownMs);
    if (i > 0) assert.ok(f.atMs >= a[i - 1]!.atMs + a[i - 1]!.durationMs + nemesisLimits.gapMsMin, 'faults never overlap');
  }
});
