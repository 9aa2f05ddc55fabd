// Time as the front ends see it: a clock and one-shot timers, injected so tests can drive idle timeouts
// and failure windows. The real implementation unrefs its timers: they must never keep the process alive.

export interface Timer {
  cancel(): void;
}

export interface Timers {
  /** Milliseconds on a monotonic-enough clock (only differences are used). */
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
}

export const realTimers: Timers = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** Resolves after `ms` on the given timers. */
export function sleep(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => {
    timers.setTimeout(resolve, ms);
  });
}
