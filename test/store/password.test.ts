// argon2id hashing: PHC strings that verify, refusal of malformed or costly hashes, and a free event loop.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, verifyPassword } from '../../src/store/password.ts';

test('hashes are argon2id PHC strings with a fresh salt; only the right password verifies', async () => {
  const [a, b] = await Promise.all([hashPassword('correct horse'), hashPassword('correct horse')]);
  assert.match(a, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
  assert.notEqual(a, b, 'salted');
  assert.equal(await verifyPassword('correct horse', a), true);
  assert.equal(await verifyPassword('correct horse ', a), false);
  assert.equal(await verifyPassword('correct horse', 'not a hash'), false);
  // A planted hash asking for 4 GiB of memory per login is refused, not computed.
  assert.equal(await verifyPassword('x', a.replace('m=19456', 'm=4194304')), false);
});

test('hashing runs off the event loop: timers keep firing while logins are checked', async () => {
  let ticks = 0;
  const iv = setInterval(() => ticks++, 2);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 6 }, (_, i) => hashPassword(`p${i}`)));
  const ms = performance.now() - t0;
  clearInterval(iv);
  assert.ok(ticks > (ms / 2) * 0.4, `${ticks} timer ticks in ${ms.toFixed(0)} ms: the event loop was blocked`);
});
