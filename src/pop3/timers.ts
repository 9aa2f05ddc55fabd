// Time as the POP3 server sees it: a clock and one-shot timers, injected so tests can drive idle timeouts
// and failure windows. The real implementation unrefs its timers: they never keep the process alive.

export interface Pop3Timer {
  cancel(): void;
}

export interface Pop3Timers {
  /** Milliseconds on a monotonic-enough clock (only differences are used). */
  now(): number;
  setTimeout(fn: () => void, ms: number): Pop3Timer;
}

export const realTimers: Pop3Timers = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** Resolves after `ms` on the given timers. */
export function sleep(timers: Pop3Timers, ms: number): Promise<void> {
  return new Promise((resolve) => {
    timers.setTimeout(resolve, ms);
  });
}
