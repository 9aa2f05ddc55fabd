// The login limits of one connection: failures here and from the client's address (shared tracker), and the
// pause before a failed login is answered. Must not answer the client nor close anything: the session decides.

import { ipLimitKey } from './ip-address.ts';
import type { AuthFailureTracker } from './limiters.ts';
import { type Timers, sleep } from './timers.ts';

export interface LoginLimitOptions {
  readonly clientIp: string;
  readonly tracker: AuthFailureTracker;
  readonly timers: Timers;
  /** Pause before a failed login is answered (slows guessing). */
  readonly failureDelayMs: number;
  /** Failed logins on this connection at which it must close. */
  readonly failuresPerConnectionMax: number;
}

export class LoginLimit {
  private readonly o: LoginLimitOptions;
  private readonly key: string;
  private failuresHere = 0;

  constructor(o: LoginLimitOptions) {
    this.o = o;
    this.key = ipLimitKey(o.clientIp);
  }

  /** The client's address has failed too often lately: refuse logins without trying them. */
  blocked(): boolean {
    return this.o.tracker.isBlocked(this.key);
  }

  /** Records a failure, waits the delay; true when the connection must close after the reply. */
  async failed(): Promise<boolean> {
    this.failuresHere++;
    this.o.tracker.recordFailure(this.key);
    await sleep(this.o.timers, this.o.failureDelayMs);
    return this.failuresHere >= this.o.failuresPerConnectionMax || this.o.tracker.isBlocked(this.key);
  }
}
