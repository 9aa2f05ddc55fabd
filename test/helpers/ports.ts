// Test support: a run of free TCP ports for processes that must come back on the same ports after a
// restart, and polling until a condition holds. Loopback only; bounded in attempts and time.

import net from 'node:net';

const free = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = net.createServer().once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/**
 * A base port with `count` free ports above it, below Linux's ephemeral range (32768+), so other
 * tests' port-0 listeners cannot take one between this check and the nodes' start.
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * (12_000 - count));
    const ok = await Promise.all(Array.from({ length: count }, (_, i) => free(base + i)));
    if (ok.every(Boolean)) return base;
  }
  throw new Error(`no run of ${count} free ports`);
}

/** Polls `probe` every 200 ms until it gives a value; after `ms`, fails naming `what` and the last error. */
export async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    const v = await probe().catch((e: unknown) => {
      last = e;
      return undefined;
    });
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
