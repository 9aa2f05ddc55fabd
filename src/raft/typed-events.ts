// A typed wrapper over node:events: event names and argument tuples are checked at compile time.
// Owns no policy: emitters document when each event fires and what it guarantees.

import { EventEmitter } from 'node:events';

/** Event name -> argument tuple, e.g. `{ applied: [index: LogIndex] }`. */
export type EventMap<E> = { [K in keyof E]: unknown[] };

export class TypedEvents<E extends EventMap<E>> {
  private readonly ee = new EventEmitter();

  on<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.ee.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.ee.once(event, listener as (...args: unknown[]) => void);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: (...args: E[K]) => void): this {
    this.ee.off(event, listener as (...args: unknown[]) => void);
    return this;
  }

  /** Calls listeners synchronously, in registration order; a throwing listener throws here. */
  emit<K extends keyof E & string>(event: K, ...args: E[K]): boolean {
    return this.ee.emit(event, ...args);
  }

  listenerCount<K extends keyof E & string>(event: K): number {
    return this.ee.listenerCount(event);
  }
}
