// Retrying an operation that failed for a passing reason (no leader, leader changed), bounded by a deadline.
// Must not decide what is retryable: callers pass that; nothing here knows Raft or the store.

import { performance } from 'node:perf_hooks';

export interface RetryPolicy {
  /** Give up when the next attempt would start past this (performance.now() ms). */
  readonly deadlineMs: number;
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  readonly retryable: (e: unknown) => boolean;
}

/** Run `attempt` until it succeeds, fails for good, or the deadline passes; the last error is thrown. */
export async function retryUntil<T>(p: RetryPolicy, attempt: () => Promise<T>): Promise<T> {
  let delayMs = p.delayMsMin;
  for (;;) {
    try {
      return await attempt();
    } catch (e) {
      if (!p.retryable(e) || performance.now() + delayMs >= p.deadlineMs) throw e;
    }
    await new Promise((r) => setTimeout(r, delayMs));
    delayMs = Math.min(delayMs * 2, p.delayMsMax);
  }
}

/** An error and its causes, outermost first (bounded). */
export function causes(e: unknown): unknown[] {
  const out: unknown[] = [];
  for (let c: unknown = e; c !== undefined && c !== null && out.length < 8; c = (c as { cause?: unknown }).cause) out.push(c);
  return out;
}
