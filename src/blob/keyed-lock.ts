// Per-key mutual exclusion in one process: tasks on the same key run one after another, in call order.
// Must not hold a key after its task settles (the map only has keys with a task running or waiting).

export class KeyedLock<K> {
  private readonly tails = new Map<K, Promise<void>>();

  async run<T>(key: K, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release = (): void => {};
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous; // never rejects: it only waits for earlier tasks' releases
    try {
      return await task();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  get size(): number {
    return this.tails.size;
  }
}
