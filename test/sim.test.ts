// The seeded simulator inside `npm test`: a batch of seeds with no violation, replay bit for bit,
// and every planted bug caught (the checkers can fail).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plantedBugs, raftFactory } from './sim/bugs.ts';
import { type PlantedBug, type SimResult, runSimulation } from './sim/sim.ts';

function run(seed: number, bug: PlantedBug = 'none', durabilityCheck = true): SimResult {
  const makeRaft = raftFactory(bug);
  return runSimulation({ seed, bug, durabilityCheck, ...(makeRaft ? { makeRaft } : {}) });
}

test('40 seeds with crashes, partitions, membership changes and transfers: no violation', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = run(seed);
    assert.deepEqual(r.violations, [], `seed ${seed}: replay with npm run sim -- --seed ${seed}`);
    assert.ok(r.stats.acked > 100, `seed ${seed}: only ${r.stats.acked} ops acknowledged`);
    assert.ok(r.stats.healToCommitMs >= 0, `seed ${seed}: no commit after heal`);
  }
});

test('a seed replays bit for bit', () => {
  const a = run(7);
  const b = run(7);
  assert.deepEqual(a, b);
  assert.notDeepEqual(run(8).stats, a.stats);
});

for (const bug of plantedBugs) {
  test(`planted bug ${bug} is reported`, () => {
    const seedsMax = 300;
    for (let seed = 1; seed <= seedsMax; seed++) {
      const r = run(seed, bug);
      if (r.violations.length > 0) return;
    }
    assert.fail(`no violation in ${seedsMax} seeds with ${bug} planted`);
  });
}

// The durability check reports a Figure 8 commit the moment it becomes unsafe; without it the
// random search must carry the scenario to its end (a leader overwrites the committed entry)
// and the end-to-end checkers (leader completeness, state machine safety, linearizability) see it.
test('planted bug commitPrevTerm: the overwrite itself is observed without the durability check', () => {
  const seedsMax = 300;
  for (let seed = 1; seed <= seedsMax; seed++) {
    const r = run(seed, 'commitPrevTerm', false);
    if (r.violations.length === 0) continue;
    assert.match(r.violations[0]!, /leader completeness|state machine safety|log matching|linearizability|assertion in the core/);
    return;
  }
  assert.fail(`no overwrite observed in ${seedsMax} seeds with commitPrevTerm planted`);
});
