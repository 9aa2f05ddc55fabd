// Password hashing for accounts: argon2id (RFC 9106) in PHC string format, from Node's crypto.
// Used at the edges (admin API hashes, front ends verify); never inside apply, which must stay cheap.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): every POP3 poll and SMTP AUTH verifies a
 * password, so RFC 9106's 64 MiB x 3 (about 0.4 s here) would make logins the bottleneck.
 */
export const argon2Params = { memoryKiB: 19_456, passes: 2, parallelism: 1, tagBytes: 32, saltBytes: 16 } as const;

/** Longest password accepted anywhere (a bound on work per login attempt). */
export const passwordBytesMax = 1024;

/** Derivations waiting for a worker; past it a login fails at once instead of queueing without bound. */
export const argon2QueueMax = 1_000;

interface Pending {
  resolve: (tag: Buffer) => void;
  reject: (e: Error) => void;
}

/** A few worker threads doing argon2id, so the event loop keeps serving while logins are checked. */
class Argon2Pool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private turn = 0;

  private worker(): Worker {
    const size = Math.max(1, Math.min(2, availableParallelism()));
    if (this.workers.length < size) {
      const w = new Worker(new URL('./argon2-worker.ts', import.meta.url));
      w.on('message', (r: { id: number; tag?: Uint8Array; error?: string }) => {
        const p = this.pending.get(r.id);
        this.pending.delete(r.id);
        if (this.pending.size === 0) for (const x of this.workers) x.unref();
        if (r.tag) p?.resolve(Buffer.from(r.tag));
        else p?.reject(new Error(`argon2id failed: ${r.error}`));
      });
      // A dead worker fails what is pending; the next call starts a fresh one.
      const fail = (e: Error): void => {
        const at = this.workers.indexOf(w);
        if (at >= 0) this.workers.splice(at, 1);
        for (const [id, p] of this.pending) {
          this.pending.delete(id);
          p.reject(e);
        }
      };
      w.on('error', fail);
      w.on('exit', (code) => fail(new Error(`argon2id worker exited (${code})`)));
      // Referenced only while derivations are pending: an idle pool never keeps the process alive.
      this.workers.push(w);
      return w;
    }
    return this.workers[this.turn++ % this.workers.length]!;
  }

  derive(job: { message: Buffer; nonce: Buffer; memory: number; passes: number; parallelism: number; tagLength: number }): Promise<Buffer> {
    if (this.pending.size >= argon2QueueMax) return Promise.reject(new Error(`argon2id: ${argon2QueueMax} derivations waiting`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const w = this.worker();
      for (const x of this.workers) x.ref();
      w.postMessage({ id, ...job });
    });
  }
}

const pool = new Argon2Pool();

function derive(password: string, salt: Buffer, m: number, t: number, p: number, tagLength: number): Promise<Buffer> {
  return pool.derive({ message: Buffer.from(password, 'utf8'), nonce: salt, memory: m, passes: t, parallelism: p, tagLength });
}

export async function hashPassword(password: string): Promise<string> {
  if (Buffer.byteLength(password) > passwordBytesMax) throw new RangeError(`password longer than ${passwordBytesMax} bytes`);
  const { memoryKiB: m, passes: t, parallelism: p, tagBytes, saltBytes } = argon2Params;
  const salt = randomBytes(saltBytes);
  const tag = await derive(password, salt, m, t, p, tagBytes);
  const b64 = (b: Buffer): string => b.toString('base64').replace(/=+$/, '');
  return `$argon2id$v=19$m=${m},t=${t},p=${p}$${b64(salt)}$${b64(tag)}`;
}

const phc = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** Constant-time check of a password against a PHC argon2id string; false for any malformed hash. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  const m = phc.exec(hash);
  if (!m || Buffer.byteLength(password) > passwordBytesMax) return false;
  const [mem, t, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Refuse parameters no hash of ours carries: a planted hash must not make a login cost gigabytes.
  if (mem > 1 << 20 || t > 10 || p > 16) return false;
  const salt = Buffer.from(m[4]!, 'base64');
  const expected = Buffer.from(m[5]!, 'base64');
  const got = await derive(password, salt, mem, t, p, expected.length);
  return got.length === expected.length && timingSafeEqual(got, expected);
}
