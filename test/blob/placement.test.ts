// Rendezvous placement: deterministic, independent of member order, balanced, minimal movement.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blobIdOf, placementTargets, preferenceList, writeQuorum, effectiveReplicas } from '../../src/blob/index.ts';
import { type NodeId, nodeId } from '../../src/raft/index.ts';

const ids = Array.from({ length: 10_000 }, (_, i) => blobIdOf(new TextEncoder().encode(`body ${i}`)));
const five = ['n1', 'n2', 'n3', 'n4', 'n5'].map(nodeId);

test('placement is deterministic and does not depend on the order of the member list', () => {
  const shuffled = [five[3]!, five[0]!, five[4]!, five[2]!, five[1]!];
  for (const id of ids.slice(0, 1000)) {
    const t = placementTargets(id, five, 3);
    assert.equal(t.length, 3);
    assert.equal(new Set(t).size, 3, 'three distinct nodes');
    assert.deepEqual(placementTargets(id, shuffled, 3), t);
    assert.deepEqual(placementTargets(id, [...five, five[0]!], 3), t, 'a duplicate member changes nothing');
    assert.deepEqual(preferenceList(id, five).slice(0, 3), t, 'the targets head the preference list');
  }
  // A fixed vector: every node, every run and every release must agree (a changed scoring function
  // would move most blobs during a rolling upgrade).
  assert.deepEqual(placementTargets(ids[0]!, five, 3), ['n3', 'n2', 'n5']);
});

test('with 5 nodes and N = 3 every node holds about 3/5 of the blobs and leads about 1/5', () => {
  const held = new Map<NodeId, number>();
  const first = new Map<NodeId, number>();
  for (const id of ids) {
    const t = placementTargets(id, five, 3);
    for (const n of t) held.set(n, (held.get(n) ?? 0) + 1);
    first.set(t[0]!, (first.get(t[0]!) ?? 0) + 1);
  }
  for (const n of five) {
    const share = (held.get(n) ?? 0) / ids.length;
    assert.ok(Math.abs(share - 0.6) < 0.03, `${n} holds ${(share * 100).toFixed(1)} % (expected 60 % +- 3)`);
    const lead = (first.get(n) ?? 0) / ids.length;
    assert.ok(Math.abs(lead - 0.2) < 0.03, `${n} is first target for ${(lead * 100).toFixed(1)} %`);
  }
});

test('adding a sixth node moves only blobs that now choose it (minimal disruption)', () => {
  const six = [...five, nodeId('n6')];
  let moved = 0;
  for (const id of ids) {
    const before = placementTargets(id, five, 3);
    const after = placementTargets(id, six, 3);
    const lost = before.filter((n) => !after.includes(n));
    if (lost.length > 0) {
      moved++;
      assert.deepEqual(after.filter((n) => !before.includes(n)), [nodeId('n6')], 'only the new node gains blobs');
      assert.equal(lost.length, 1);
    }
  }
  const share = moved / ids.length;
  assert.ok(Math.abs(share - 0.5) < 0.03, `${(share * 100).toFixed(1)} % of blobs get the new node (expected 3/6 = 50 %)`);
});

test('N is capped at the member count and the write quorum is a majority of N', () => {
  assert.deepEqual(placementTargets(ids[1]!, [nodeId('solo')], 3), [nodeId('solo')]);
  assert.equal(placementTargets(ids[1]!, five.slice(0, 2), 3).length, 2);
  assert.equal(effectiveReplicas(3, 2), 2);
  assert.deepEqual([1, 2, 3, 4, 5].map(writeQuorum), [1, 2, 2, 3, 3]);
});
