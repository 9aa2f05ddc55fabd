// Pending linearizable reads on the leader (ReadIndex, Raft thesis §6.4).
// Pure bookkeeping: a read is released once a quorum acknowledged a heartbeat carrying its context.

import { RaftError } from './errors.ts';
import type { LogIndex, Message } from './types.ts';

/** A confirmed read: serve it once the state machine has applied `index`. */
export interface ReadState {
  readonly index: LogIndex;
  readonly context: Uint8Array;
}

interface PendingRead {
  readonly index: LogIndex;
  readonly message: Message;
  readonly acks: Set<string>;
}

function key(ctx: Uint8Array): string {
  return Buffer.from(ctx.buffer, ctx.byteOffset, ctx.byteLength).toString('base64');
}

export class ReadOnly {
  private readonly pending = new Map<string, PendingRead>();
  private queue: string[] = [];
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  /** Remember a read at commit index `index`; contexts must be unique per request. */
  addRequest(index: LogIndex, m: Message, ctx: Uint8Array): void {
    const k = key(ctx);
    if (this.pending.has(k)) return;
    if (this.pending.size >= this.max) throw new RaftError('READS_FULL', `${this.pending.size} reads pending`);
    this.pending.set(k, { index, message: m, acks: new Set() });
    this.queue.push(k);
  }

  /** Record that `from` acknowledged the heartbeat for ctx; true once a quorum did. */
  recvAck(from: string, ctx: Uint8Array, isQuorum: (acks: ReadonlySet<string>) => boolean): boolean {
    const p = this.pending.get(key(ctx));
    if (p === undefined) return false;
    p.acks.add(from);
    return isQuorum(p.acks);
  }

  /** Release every read queued up to and including ctx (a later ack confirms earlier reads). */
  advance(ctx: Uint8Array): PendingRead[] {
    const k = key(ctx);
    const at = this.queue.indexOf(k);
    if (at < 0) return [];
    const done = this.queue.slice(0, at + 1).map((q) => this.pending.get(q)!);
    for (const q of this.queue.slice(0, at + 1)) this.pending.delete(q);
    this.queue = this.queue.slice(at + 1);
    return done;
  }

  lastPendingContext(): Uint8Array | undefined {
    const k = this.queue[this.queue.length - 1];
    return k === undefined ? undefined : this.pending.get(k)!.message.context;
  }

  size(): number {
    return this.pending.size;
  }

  reset(): void {
    this.pending.clear();
    this.queue = [];
  }
}
