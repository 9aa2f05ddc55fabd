// Password hashing for accounts: argon2id (RFC 9106) in PHC string format, from Node's crypto.
// Used at the edges (admin API hashes, front ends verify); never inside apply, which must stay cheap.

import { argon2, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * OWASP's argon2id baseline (19 MiB, 2 passes, 1 lane): every POP3 poll and SMTP AUTH verifies a
 * password, so RFC 9106's 64 MiB x 3 (about 0.4 s here) would make logins the bottleneck.
 */
export const argon2Params = { memoryKiB: 19_456, passes: 2, parallelism: 1, tagBytes: 32, saltBytes: 16 } as const;

/** Longest password accepted anywhere (a bound on work per login attempt). */
export const passwordBytesMax = 1024;

function derive(password: string, salt: Buffer, m: number, t: number, p: number, tagLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    argon2('argon2id', { message: Buffer.from(password, 'utf8'), nonce: salt, memory: m, passes: t, parallelism: p, tagLength }, (err, key) =>
      err ? reject(err) : resolve(Buffer.from(key)),
    ),
  );
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
