// Injected randomness for the core: a seeded PRNG so a simulation replays bit for bit.
// No Math.random here or anywhere in src/raft.

export interface Random {
  /** An integer uniformly drawn from [0, n). */
  int(n: number): number;
}

/** mulberry32: small, fast, good enough for timeouts and fault schedules. */
export function seededRandom(seed: number): Random & { float(): number } {
  let s = seed >>> 0;
  const next = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    int: (n: number) => Math.floor(next() * n),
    float: next,
  };
}
