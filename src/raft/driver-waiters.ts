// The driver's waiting callers: proposals until their entry is applied, reads until confirmed and applied.
// Pure bookkeeping: deadlines are numbers compared with the caller's clock; no timers, no I/O.

import type { LogIndex } from './types.ts';

export interface Callbacks<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (err: Error) => void;
}

interface ProposalWaiter {
  readonly deadlineMs: number;
  readonly callers: Callbacks<unknown>[];
}

/**
 * Proposals by request id. Every caller gets the same timeout, so insertion
 * order is deadline order and expiry only looks at the front. A second
 * proposal with an id already waiting joins the first one's callers (and its
 * deadline): both settle with the first application of that id.
 */
export class ProposalWaiters {
  private readonly byKey = new Map<string, ProposalWaiter>();

  size(): number {
    return this.byKey.size;
  }

  add(key: string, deadlineMs: number, cb: Callbacks<unknown>): void {
    const w = this.byKey.get(key);
    if (w !== undefined) w.callers.push(cb);
    else this.byKey.set(key, { deadlineMs, callers: [cb] });
  }

  /** The entry carrying `key` was applied with `result`; false if nobody here waits for it. */
  resolve(key: string, result: unknown): boolean {
    const w = this.byKey.get(key);
    if (w === undefined) return false;
    this.byKey.delete(key);
    for (const c of w.callers) c.resolve(result);
    return true;
  }

  reject(key: string, err: Error): void {
    const w = this.byKey.get(key);
    if (w === undefined) return;
    this.byKey.delete(key);
    for (const c of w.callers) c.reject(err);
  }

  /** Reject every waiter whose deadline passed; returns how many ids expired. */
  expire(nowMs: number, err: () => Error): number {
    let n = 0;
    for (const [key, w] of this.byKey) {
      if (w.deadlineMs > nowMs) break;
      this.reject(key, err());
      n++;
    }
    return n;
  }

  rejectAll(err: Error): void {
    for (const key of [...this.byKey.keys()]) this.reject(key, err);
  }
}

export interface ReadBatch {
  readonly key: string;
  readonly context: Uint8Array;
  readonly deadlineMs: number;
  readonly callers: Callbacks<void>[];
  /** Set once the leader confirmed the read: serve when applied >= index. */
  index: LogIndex | undefined;
}

/**
 * read() callers. Those that arrive between two Ready cycles share one
 * ReadIndex request (one context), as etcd's linearizable read loop does:
 * each of them started before the request was issued, so its answer is a
 * valid read point for all of them (Raft thesis §6.4).
 */
export class ReadWaiters {
  private queued: Callbacks<void>[] = [];
  private queuedDeadlineMs = 0;
  private readonly batches = new Map<string, ReadBatch>();
  private callers = 0;

  size(): number {
    return this.callers;
  }

  queuedCount(): number {
    return this.queued.length;
  }

  enqueue(deadlineMs: number, cb: Callbacks<void>): void {
    if (this.queued.length === 0) this.queuedDeadlineMs = deadlineMs;
    this.queued.push(cb);
    this.callers++;
  }

  /** Turn the queued callers into one batch under `context`; undefined when none are queued. */
  takeBatch(key: string, context: Uint8Array): ReadBatch | undefined {
    if (this.queued.length === 0) return undefined;
    const batch: ReadBatch = { key, context, deadlineMs: this.queuedDeadlineMs, callers: this.queued, index: undefined };
    this.queued = [];
    this.batches.set(key, batch);
    return batch;
  }

  /** Batches issued but not yet confirmed by a leader (to re-ask a new leader). */
  unanswered(): ReadBatch[] {
    return [...this.batches.values()].filter((b) => b.index === undefined);
  }

  /** The leader confirmed the read with this context at `index`. */
  confirmed(key: string, index: LogIndex): void {
    const b = this.batches.get(key);
    if (b !== undefined && b.index === undefined) b.index = index;
  }

  /** Resolve every confirmed batch whose index is applied. */
  release(applied: LogIndex): void {
    for (const b of this.batches.values()) {
      if (b.index !== undefined && b.index <= applied) this.settle(b, undefined);
    }
  }

  fail(key: string, err: Error): void {
    const b = this.batches.get(key);
    if (b !== undefined) this.settle(b, err);
  }

  expire(nowMs: number, err: () => Error): void {
    if (this.queued.length > 0 && this.queuedDeadlineMs <= nowMs) {
      for (const c of this.queued) c.reject(err());
      this.callers -= this.queued.length;
      this.queued = [];
    }
    for (const b of this.batches.values()) if (b.deadlineMs <= nowMs) this.settle(b, err());
  }

  rejectAll(err: Error): void {
    for (const c of this.queued) c.reject(err);
    this.callers -= this.queued.length;
    this.queued = [];
    for (const b of [...this.batches.values()]) this.settle(b, err);
  }

  private settle(b: ReadBatch, err: Error | undefined): void {
    this.batches.delete(b.key);
    this.callers -= b.callers.length;
    for (const c of b.callers) {
      if (err === undefined) c.resolve();
      else c.reject(err);
    }
  }
}

interface ConfWaiter<T> {
  readonly index: LogIndex;
  readonly term: number;
  readonly deadlineMs: number;
  readonly cb: Callbacks<T>;
}

/**
 * Membership changes proposed on this node (the leader), by the log index and
 * term their entry got. The entry applied at that index with that term is
 * ours; any other entry there means a newer leader replaced it.
 */
export class ConfWaiters<T> {
  private waiters: ConfWaiter<T>[] = [];

  size(): number {
    return this.waiters.length;
  }

  add(index: LogIndex, term: number, deadlineMs: number, cb: Callbacks<T>): void {
    this.waiters.push({ index, term, deadlineMs, cb });
  }

  /** A conf entry was applied (and persisted) with `value` as the outcome. */
  applied(index: LogIndex, term: number, value: T): void {
    this.settleWhere((w) => w.index === index && w.term === term, (w) => w.cb.resolve(value));
  }

  /** Everything at or below `applied` that was not resolved lost its entry to another one. */
  droppedUpTo(applied: LogIndex, err: () => Error): void {
    this.settleWhere((w) => w.index <= applied, (w) => w.cb.reject(err()));
  }

  expire(nowMs: number, err: () => Error): void {
    this.settleWhere((w) => w.deadlineMs <= nowMs, (w) => w.cb.reject(err()));
  }

  rejectAll(err: Error): void {
    this.settleWhere(() => true, (w) => w.cb.reject(err));
  }

  private settleWhere(match: (w: ConfWaiter<T>) => boolean, settle: (w: ConfWaiter<T>) => void): void {
    if (this.waiters.length === 0) return;
    const keep: ConfWaiter<T>[] = [];
    const done: ConfWaiter<T>[] = [];
    for (const w of this.waiters) (match(w) ? done : keep).push(w);
    this.waiters = keep;
    for (const w of done) settle(w);
  }
}
