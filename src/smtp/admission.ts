// Admission counters of one node's SMTP front end: connections per address, AUTH failures per address, buffered bytes.
// In-memory and bounded; time comes in as arguments. Cluster-wide counters (gossip, DESIGN principle 2) come later.

/** Open connections per client address on one listener. */
export class ConnectionCounter {
  private readonly open = new Map<string, number>();

  /** Counts a new connection unless `address` already has `max` open; true when admitted. */
  tryAcquire(address: string, max: number): boolean {
    const n = this.open.get(address) ?? 0;
    if (n >= max) return false;
    this.open.set(address, n + 1);
    return true;
  }

  release(address: string): void {
    const n = this.open.get(address) ?? 0;
    if (n <= 1) this.open.delete(address);
    else this.open.set(address, n - 1);
  }

  count(address: string): number {
    return this.open.get(address) ?? 0;
  }
}

/**
 * Failed AUTH attempts per client address in a sliding window. Remembers at most
 * `trackedMax` addresses: the least recently failing one is forgotten first, so a flood of
 * addresses cannot grow it, at worst it forgets some.
 */
export class AuthFailureTracker {
  private readonly failures = new Map<string, number[]>();
  private readonly windowMs: number;
  private readonly perAddressMax: number;
  private readonly trackedMax: number;

  constructor(opts: { windowMs: number; perAddressMax: number; trackedMax: number }) {
    this.windowMs = opts.windowMs;
    this.perAddressMax = opts.perAddressMax;
    this.trackedMax = opts.trackedMax;
  }

  /** True when `address` has `perAddressMax` failures within the window ending at `nowMs`. */
  blocked(address: string, nowMs: number): boolean {
    return this.recent(address, nowMs).length >= this.perAddressMax;
  }

  recordFailure(address: string, nowMs: number): void {
    const list = this.recent(address, nowMs);
    list.push(nowMs);
    // Keep no more stamps than the limit needs.
    if (list.length > this.perAddressMax) list.splice(0, list.length - this.perAddressMax);
    this.failures.delete(address); // re-insert: Map order is then least recently failing first
    this.failures.set(address, list);
    while (this.failures.size > this.trackedMax) {
      const oldest = this.failures.keys().next();
      if (oldest.done === true) break;
      this.failures.delete(oldest.value);
    }
  }

  private recent(address: string, nowMs: number): number[] {
    const list = this.failures.get(address);
    if (list === undefined) return [];
    const from = nowMs - this.windowMs;
    const kept = list.filter((t) => t > from);
    if (kept.length === 0) this.failures.delete(address);
    else this.failures.set(address, kept);
    return kept;
  }
}

/** Bytes of message data held in memory by all connections (limits.bufferedMessageBytesMax). */
export class ByteBudget {
  private used = 0;
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  tryReserve(n: number): boolean {
    if (this.used + n > this.max) return false;
    this.used += n;
    return true;
  }

  release(n: number): void {
    if (n > this.used) throw new Error(`smtp: releasing ${n} bytes, only ${this.used} reserved`);
    this.used -= n;
  }

  get usedBytes(): number {
    return this.used;
  }
}
