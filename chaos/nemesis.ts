// The nemesis's plan: a seeded schedule of faults (kill, kill the leader, pause, cut a link),
// one at a time so a majority stays up. Pure: the runner executes it; the same seed, the same plan.

import { seededRandom } from '../src/raft/random.ts';

export type Fault =
  /** SIGKILL the node, restart it after `durationMs`. */
  | { kind: 'kill'; node: number }
  /** SIGKILL whichever node leads when the fault starts. */
  | { kind: 'kill-leader' }
  /** SIGSTOP, then SIGCONT after `durationMs`. */
  | { kind: 'pause'; node: number }
  /** Cut both directions between two nodes, heal after `durationMs`. */
  | { kind: 'partition-link'; a: number; b: number }
  /** Cut every link of one node (it is isolated from the others). */
  | { kind: 'isolate'; node: number };

export interface PlannedFault {
  readonly atMs: number;
  readonly durationMs: number;
  readonly fault: Fault;
}

export const nemesisLimits = {
  /** Quiet time before the first fault, so the cluster has a leader and the workload runs. */
  warmupMs: 2_000,
  /** A fault lasts between these bounds. */
  faultMsMin: 500,
  faultMsMax: 4_000,
  /** Quiet time between the end of one fault and the start of the next. */
  gapMsMin: 1_500,
  gapMsMax: 4_000,
  /** Quiet time at the end so the cluster heals before the checker reads it. */
  cooldownMs: 3_000,
} as const;

function between(r: () => number, lo: number, hi: number): number {
  return Math.round(lo + r() * (hi - lo));
}

/** Faults for `nodes` nodes over `durationMs`, drawn from `seed`. */
export function planFaults(seed: number, nodes: number, durationMs: number): PlannedFault[] {
  const r = seededRandom(seed).float;
  const plan: PlannedFault[] = [];
  let at = nemesisLimits.warmupMs;
  const end = durationMs - nemesisLimits.cooldownMs;
  for (;;) {
    const durationMs = between(r, nemesisLimits.faultMsMin, nemesisLimits.faultMsMax);
    if (at + durationMs > end) break;
    plan.push({ atMs: at, durationMs, fault: drawFault(r, nodes) });
    at += durationMs + between(r, nemesisLimits.gapMsMin, nemesisLimits.gapMsMax);
  }
  return plan;
}

function drawFault(r: () => number, nodes: number): Fault {
  const node = Math.floor(r() * nodes);
  const pick = r();
  if (pick < 0.3) return { kind: 'kill-leader' };
  if (pick < 0.5) return { kind: 'kill', node };
  if (pick < 0.7) return { kind: 'pause', node };
  if (pick < 0.85) return { kind: 'isolate', node };
  const other = (node + 1 + Math.floor(r() * (nodes - 1))) % nodes;
  return { kind: 'partition-link', a: node, b: other };
}

export function describeFault(f: Fault): string {
  switch (f.kind) {
    case 'kill':
      return `kill n${f.node + 1}`;
    case 'kill-leader':
      return 'kill the leader';
    case 'pause':
      return `pause n${f.node + 1}`;
    case 'partition-link':
      return `cut n${f.a + 1}<->n${f.b + 1}`;
    case 'isolate':
      return `isolate n${f.node + 1}`;
  }
}
