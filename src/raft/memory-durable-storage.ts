// DurableStorage held only in memory, for in-process benchmarks and tests: the same contract as LevelDBStorage.
// Must not touch the disk or be used where a crash has to be survived; nothing outlives the process.

import { RaftError } from './errors.ts';
import type { DurableStorage, DurableWrite } from './storage.ts';
import { MemoryStorage } from './storage.ts';
import { type ConfState, type LogIndex, index, isEmptySnapshot } from './types.ts';
import { assert } from './assert.ts';

/**
 * Every write takes effect at once and `sync` is ignored. Kept apart from
 * leveldb-storage.ts so that importing it does not load the native LevelDB binding.
 */
export class MemoryDurableStorage extends MemoryStorage implements DurableStorage {
  private closed = false;

  async save(w: DurableWrite, _sync: boolean): Promise<void> {
    this.checkOpen();
    // applySnapshot validates before it mutates, so a stale snapshot changes nothing.
    if (w.snapshot !== undefined && !isEmptySnapshot(w.snapshot)) this.applySnapshot(w.snapshot);
    this.append(w.entries);
    if (w.hardState !== undefined) this.setHardState(w.hardState);
  }

  async saveConfState(cs: ConfState): Promise<void> {
    this.checkOpen();
    this.setConfState(cs);
  }

  /** As LevelDBStorage.snapshotAndCompact: the entry at max(i - keepEntries, 0) becomes the log's dummy. */
  async snapshotAndCompact(i: LogIndex, conf: ConfState, data: Uint8Array, keepEntries: number): Promise<void> {
    this.checkOpen();
    assert(Number.isSafeInteger(keepEntries) && keepEntries >= 0, () => `keepEntries ${keepEntries}`);
    this.createSnapshot(i, conf, data);
    const compactIndex = Math.max(i - keepEntries, 0);
    if (compactIndex >= this.firstIndex()) this.compact(index(compactIndex));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new RaftError('STORAGE', 'memory storage is closed');
  }
}
