// Per-address bookkeeping for the server's limits: open connections, and failed logins in a sliding window.
// Pure: time comes in as a `now()` function; memory is bounded (keys are forgotten, never grown without end).

import { authFailureIpsTrackedMax } from './limits.ts';

/** Open connections, in total and per key (see ipLimitKey). */
export class ConnectionCounter {
  private readonly perKey = new Map<string, number>();
  private totalOpen = 0;

  get total(): number {
    return this.totalOpen;
  }

  countFor(key: string): number {
    return this.perKey.get(key) ?? 0;
  }

  /** Counts one more connection in total (at accept, before the client address is known). */
  openTotal(): void {
    this.totalOpen++;
  }

  closeTotal(): void {
    if (this.totalOpen === 0) throw new Error('net: connection counter below zero');
    this.totalOpen--;
  }

  openFor(key: string): void {
    this.perKey.set(key, this.countFor(key) + 1);
  }

  closeFor(key: string): void {
    const n = this.countFor(key);
    if (n === 0) throw new Error(`pop3: connection counter for ${key} below zero`);
    if (n === 1) this.perKey.delete(key);
    else this.perKey.set(key, n - 1);
  }
}

export interface AuthFailureLimits {
  /** Failures within the window at which the key is blocked. */
  readonly failuresMax: number;
  readonly windowMs: number;
  /** Keys remembered; the one that failed least recently is forgotten first. */
  readonly keysMax?: number;
}

/** Failed logins per key within a sliding window. A success does not clear the count (one valid account must not launder guesses). */
export class AuthFailureTracker {
  /** Failure times per key, oldest first; Map order is least recently failed first. */
  private readonly failures = new Map<string, number[]>();
  private readonly limits: AuthFailureLimits;
  private readonly now: () => number;
  private readonly keysMax: number;

  constructor(limits: AuthFailureLimits, now: () => number) {
    this.limits = limits;
    this.now = now;
    this.keysMax = limits.keysMax ?? authFailureIpsTrackedMax;
  }

  private recent(key: string): number[] {
    const times = this.failures.get(key);
    if (times === undefined) return [];
    const cutoff = this.now() - this.limits.windowMs;
    const kept = times.filter((t) => t > cutoff);
    if (kept.length === 0) this.failures.delete(key);
    else if (kept.length !== times.length) this.failures.set(key, kept);
    return kept;
  }

  isBlocked(key: string): boolean {
    return this.recent(key).length >= this.limits.failuresMax;
  }

  recordFailure(key: string): void {
    const times = this.recent(key);
    times.push(this.now());
    // Keep only what the verdict needs, and move the key to the most recent end.
    this.failures.delete(key);
    this.failures.set(key, times.slice(-this.limits.failuresMax));
    while (this.failures.size > this.keysMax) {
      const oldest = this.failures.keys().next();
      if (oldest.done === true) break;
      this.failures.delete(oldest.value);
    }
  }

  get trackedKeys(): number {
    return this.failures.size;
  }
}
