// A bounded admission gate: at most N holders at once, at most Q waiting; one more is refused.
// Must not queue without bound or time anything: callers get BLOB_BUSY and decide whether to retry.

import { assert } from '../raft/assert.ts';
import { BlobError } from './errors.ts';

export class WriteGate {
  private readonly runningMax: number;
  private readonly waitingMax: number;
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(runningMax: number, waitingMax: number) {
    assert(runningMax >= 1 && waitingMax >= 0, 'gate bounds out of range');
    this.runningMax = runningMax;
    this.waitingMax = waitingMax;
  }

  /** Resolves when the caller holds a slot; it must call release() exactly once afterwards. */
  async acquire(): Promise<void> {
    if (this.running < this.runningMax) {
      this.running++;
      return;
    }
    if (this.waiting.length >= this.waitingMax) {
      throw new BlobError('BLOB_BUSY', `${this.running} puts running and ${this.waiting.length} waiting: retry later`);
    }
    // The releasing holder hands its slot over directly, so `running` does not change here.
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  release(): void {
    assert(this.running > 0, 'gate released more often than acquired');
    const next = this.waiting.shift();
    if (next === undefined) this.running--;
    else next();
  }

  get runningCount(): number {
    return this.running;
  }

  get waitingCount(): number {
    return this.waiting.length;
  }
}
