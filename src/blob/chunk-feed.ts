// A one-chunk hand-over from request handlers (a peer's copy arriving chunk by chunk) to a consumer
// (BlobStore.put). Must not buffer more than one chunk: push() resolves only once the consumer took it.

import { assert } from '../raft/assert.ts';

export class ChunkFeed implements AsyncIterable<Uint8Array> {
  private pending: Uint8Array | undefined;
  private ended = false;
  private failure: Error | undefined;
  private consumerGone = false;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  /** Hand one chunk over; resolves when the consumer took it (or went away: check the put's result). */
  async push(bytes: Uint8Array): Promise<void> {
    assert(this.pending === undefined && !this.ended, 'chunk pushed while one is pending or after end');
    if (this.consumerGone || this.failure !== undefined) return;
    this.pending = bytes;
    this.wake();
    await new Promise<void>((resolve) => {
      if (this.pending === undefined || this.consumerGone) resolve();
      else this.wakeProducer = resolve;
    });
  }

  /** No more chunks: the consumer's loop ends once it took the pending one. */
  end(): void {
    this.ended = true;
    this.wake();
  }

  /** Stop the consumer with `error` (thrown from its next()); a pending chunk is dropped. */
  fail(error: Error): void {
    this.failure ??= error;
    this.pending = undefined;
    this.wake();
    this.releaseProducer();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        if (this.failure !== undefined) throw this.failure;
        const chunk = this.pending;
        if (chunk !== undefined) {
          this.pending = undefined;
          this.releaseProducer();
          yield chunk;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
      }
    } finally {
      this.consumerGone = true;
      this.releaseProducer();
    }
  }

  private wake(): void {
    const w = this.wakeConsumer;
    this.wakeConsumer = undefined;
    w?.();
  }

  private releaseProducer(): void {
    const w = this.wakeProducer;
    this.wakeProducer = undefined;
    w?.();
  }
}
