// `npm run sim`: run seeds of the Raft simulation, print a replay command per failing seed.
// Ends with the line `sim: N seeds, V violations`; exit code 1 when V > 0.

import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { raftFactory, plantedBugs } from './bugs.ts';
import { type PlantedBug, type SimResult, runSimulation } from './sim.ts';

interface Args {
  seeds: number;
  seed: number | undefined;
  from: number;
  bug: PlantedBug;
  jobs: number;
  durationMs: number | undefined;
  chaos: number | undefined;
  durabilityCheck: boolean;
  verbose: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seeds: 20, seed: undefined, from: 1, bug: 'none', jobs: Math.min(2, availableParallelism()), durationMs: undefined, chaos: undefined, durabilityCheck: true, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`sim: ${k} needs a value`);
      return x;
    };
    const int = (): number => {
      const s = v();
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0) throw new Error(`sim: ${k} wants a non-negative integer, got ${s}`);
      return n;
    };
    if (k === '--seeds') a.seeds = int();
    else if (k === '--seed') a.seed = int();
    else if (k === '--from') a.from = int();
    else if (k === '--jobs') a.jobs = Math.max(1, int());
    else if (k === '--duration-ms') a.durationMs = int();
    else if (k === '--chaos') a.chaos = Number(v());
    else if (k === '--no-durability-check') a.durabilityCheck = false;
    else if (k === '--verbose' || k === '-v') a.verbose = true;
    else if (k === '--bug') {
      const b = v() as PlantedBug;
      if (b !== 'none' && !plantedBugs.includes(b)) throw new Error(`sim: unknown bug ${b}; one of ${plantedBugs.join(', ')}`);
      a.bug = b;
    } else throw new Error(`sim: unknown argument ${k}`);
  }
  return a;
}

function runSeed(seed: number, a: Pick<Args, 'bug' | 'durationMs' | 'chaos' | 'durabilityCheck'>, log?: (l: string) => void): SimResult {
  const makeRaft = raftFactory(a.bug);
  return runSimulation({
    seed,
    bug: a.bug,
    durabilityCheck: a.durabilityCheck,
    ...(makeRaft ? { makeRaft } : {}),
    ...(a.durationMs !== undefined ? { durationMs: a.durationMs } : {}),
    ...(a.chaos !== undefined ? { chaos: a.chaos } : {}),
    ...(log ? { log } : {}),
  });
}

function replayCommand(seed: number, a: Args): string {
  const extra = [
    a.bug !== 'none' ? `--bug ${a.bug}` : '',
    a.durationMs !== undefined ? `--duration-ms ${a.durationMs}` : '',
    a.chaos !== undefined ? `--chaos ${a.chaos}` : '',
    a.durabilityCheck ? '' : '--no-durability-check',
  ].filter(Boolean);
  return ['npm run sim -- --seed', String(seed), ...extra].join(' ');
}

async function runMany(a: Args): Promise<SimResult[]> {
  const seeds = Array.from({ length: a.seeds }, (_, i) => a.from + i);
  const jobs = Math.min(a.jobs, seeds.length);
  const shards = Array.from({ length: jobs }, (_, j) => seeds.filter((_, i) => i % jobs === j));
  const results = await Promise.all(
    shards.map(
      (shard) =>
        new Promise<SimResult[]>((resolve, reject) => {
          const w = new Worker(new URL(import.meta.url), { workerData: { shard, a } });
          w.once('message', resolve);
          w.once('error', reject);
        }),
    ),
  );
  return results.flat().sort((x, y) => x.seed - y.seed);
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const t0 = performance.now();
  let results: SimResult[];
  if (a.seed !== undefined) {
    const r = runSeed(a.seed, a, a.verbose ? (l) => console.log(l) : undefined);
    console.log(`seed ${r.seed}: ${JSON.stringify(r.stats)}`);
    results = [r];
  } else {
    results = await runMany(a);
  }
  let violations = 0;
  for (const r of results) {
    if (r.violations.length === 0) continue;
    violations += r.violations.length;
    console.log(`seed ${r.seed} FAILED (${r.violations.length} violations); replay: ${replayCommand(r.seed, a)}`);
    for (const v of r.violations.slice(0, 3)) console.log(`  ${v}`);
  }
  const sum = (k: keyof SimResult['stats']): number => results.reduce((n, r) => n + r.stats[k], 0);
  const heal = results.map((r) => r.stats.healToCommitMs).filter((x) => x >= 0);
  console.log(
    `ran ${results.length} seeds in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${sum('ops')} client ops (${sum('acked')} acknowledged), ` +
      `${sum('commits')} commits, ${sum('elections')} elections, ${sum('crashes')} crashes, ${sum('partitions')} partitions, ` +
      `${sum('confChanges')} membership changes, ${sum('transfers')} transfers, ${sum('snapshotsSent')} snapshots sent; ` +
      `commit after heal: max ${heal.length ? Math.max(...heal) : '-'} ms`,
  );
  console.log(`sim: ${results.length} seeds, ${violations} violations`);
  process.exitCode = violations > 0 ? 1 : 0;
}

if (isMainThread) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 2;
  });
} else {
  const { shard, a } = workerData as { shard: number[]; a: Args };
  parentPort!.postMessage(shard.map((s) => runSeed(s, a)));
}
