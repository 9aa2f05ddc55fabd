// Shared pieces of the Raft benchmark: a deduplicating state machine, the closed-loop load, figures.
// Bench code only: nothing in src/ imports it.

import { Packr } from 'msgpackr';
import { performance } from 'node:perf_hooks';
import type { AppliedCommand, StateMachine } from '../src/raft/driver.ts';
import { isRaftError } from '../src/raft/errors.ts';

const packr = new Packr({ useRecords: false });

/**
 * Counts applied commands and their bytes. Deduplicates by request id over a
 * window of the last `dedupWindow` distinct ids, evicted in log order, so every
 * replica evicts the same ids (deterministic apply). A retry whose id fell out
 * of the window would apply twice: size the window for the retry horizon
 * (proposal rate x client retry time). The window is a ring of fixed-size ids,
 * so a snapshot is a copy of two arrays, not a serialization of a map.
 */
export class BenchStateMachine implements StateMachine {
  static readonly idBytes = 16;
  applied = 0;
  bytes = 0;
  duplicates = 0;
  private readonly dedupWindow: number;
  private ring: Uint8Array;
  private results: Float64Array;
  private next = 0;
  private readonly slotOf = new Map<string, number>();

  constructor(dedupWindow = 100_000) {
    this.dedupWindow = dedupWindow;
    this.ring = new Uint8Array(dedupWindow * BenchStateMachine.idBytes);
    this.results = new Float64Array(dedupWindow);
  }

  apply(cmd: AppliedCommand): unknown {
    const id = cmd.requestId;
    const key = Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('latin1');
    const slot = this.slotOf.get(key);
    if (slot !== undefined) {
      this.duplicates++;
      return this.results[slot];
    }
    this.applied++;
    this.bytes += cmd.data.byteLength;
    this.remember(key, id, this.applied);
    return this.applied;
  }

  private remember(key: string, id: Uint8Array, result: number): void {
    const slot = this.next % this.dedupWindow;
    if (this.next >= this.dedupWindow) this.slotOf.delete(this.keyAt(slot));
    this.ring.fill(0, slot * BenchStateMachine.idBytes, (slot + 1) * BenchStateMachine.idBytes);
    this.ring.set(id.subarray(0, BenchStateMachine.idBytes), slot * BenchStateMachine.idBytes);
    this.results[slot] = result;
    this.slotOf.set(key, slot);
    this.next++;
  }

  /** Ids shorter than idBytes are zero-padded in the ring; the bench only uses 16-byte ids. */
  private keyAt(slot: number): string {
    const b = this.ring.subarray(slot * BenchStateMachine.idBytes, (slot + 1) * BenchStateMachine.idBytes);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
  }

  snapshot(): Uint8Array {
    return packr.pack([this.applied, this.bytes, this.next, this.ring, new Uint8Array(this.results.buffer)]);
  }

  restore(data: Uint8Array): void {
    this.slotOf.clear();
    if (data.byteLength === 0) {
      this.applied = this.bytes = this.next = 0;
      this.ring.fill(0);
      this.results.fill(0);
      return;
    }
    const [applied, bytes, next, ring, results] = packr.unpack(data) as [number, number, number, Uint8Array, Uint8Array];
    this.applied = applied;
    this.bytes = bytes;
    this.next = next;
    this.ring = Uint8Array.from(ring);
    this.results = new Float64Array(Uint8Array.from(results).buffer);
    for (let slot = 0; slot < Math.min(next, this.dedupWindow); slot++) this.slotOf.set(this.keyAt(slot), slot);
  }
}

export interface LoadResult {
  readonly proposers: number;
  readonly seconds: number;
  readonly commits: number;
  readonly errors: number;
  readonly errorCodes: Record<string, number>;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * `proposers` closed loops, each proposing a `payloadBytes` payload and
 * waiting for its commit (applied on the proposing node), for `seconds`.
 * A refused proposal is counted and retried after a short pause.
 */
export async function runLoad(
  propose: (data: Uint8Array) => Promise<unknown>,
  opts: { proposers: number; seconds: number; payloadBytes: number },
): Promise<LoadResult> {
  const latencies: number[] = [];
  const errorCodes: Record<string, number> = {};
  let errors = 0;
  const start = performance.now();
  const end = start + opts.seconds * 1000;
  const loop = async (p: number): Promise<void> => {
    const payload = new Uint8Array(opts.payloadBytes).fill(p & 0xff);
    while (performance.now() < end) {
      const t0 = performance.now();
      try {
        await propose(payload);
        latencies.push(performance.now() - t0);
      } catch (e) {
        errors++;
        const code = isRaftError(e) ? e.code : String(e);
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.proposers }, (_, p) => loop(p)));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return {
    proposers: opts.proposers,
    seconds: elapsed,
    commits: latencies.length,
    errors,
    errorCodes,
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
  };
}

export function formatLine(label: string, r: LoadResult): string {
  const rate = Math.round(r.commits / r.seconds);
  const errs = r.errors > 0 ? `, ${r.errors} refused ${JSON.stringify(r.errorCodes)}` : '';
  return `raft bench ${label}, ${r.proposers} proposers: ${rate} commits/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms${errs}`;
}

export function argValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
