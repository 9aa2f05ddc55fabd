// A write transaction over the store's LevelDB: reads see earlier writes of the same batch.
// Used only by apply; it never commits by itself (the state machine writes one batch per Ready).

import type { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { prefixEnd } from './keys.ts';

export const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export type Db = ClassicLevel<string, Uint8Array>;

const deleted = Symbol('deleted');

export class Tx {
  private readonly db: Db;
  private readonly overlay = new Map<string, unknown>();

  constructor(db: Db) {
    this.db = db;
  }

  async get<T>(key: string): Promise<T | undefined> {
    if (this.overlay.has(key)) {
      const v = this.overlay.get(key);
      return v === deleted ? undefined : (v as T);
    }
    const raw = await this.db.get(key);
    return raw === undefined ? undefined : (packr.unpack(raw) as T);
  }

  put(key: string, value: unknown): void {
    this.overlay.set(key, value);
  }

  del(key: string): void {
    this.overlay.set(key, deleted);
  }

  /**
   * Entries under a prefix in key order, merging the batch's own writes. Bounded by `limit`
   * (the caller names its limit: nothing here reads an unbounded range).
   */
  async scan<T>(prefix: string, limit: number): Promise<[string, T][]> {
    const out = new Map<string, T>();
    for await (const [k, v] of this.db.iterator({ gte: prefix, lt: prefixEnd(prefix), limit })) {
      out.set(k, packr.unpack(v) as T);
    }
    for (const [k, v] of this.overlay) {
      if (!k.startsWith(prefix)) continue;
      if (v === deleted) out.delete(k);
      else out.set(k, v as T);
    }
    return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).slice(0, limit);
  }

  /** The batch operations, for one atomic LevelDB write. */
  operations(): ({ type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string })[] {
    const ops: ({ type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string })[] = [];
    for (const [key, v] of this.overlay) {
      if (v === deleted) ops.push({ type: 'del', key });
      else ops.push({ type: 'put', key, value: packr.pack(v) });
    }
    return ops;
  }
}
