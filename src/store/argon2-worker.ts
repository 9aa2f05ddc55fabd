// Worker thread for argon2id: Node 24.11 runs crypto.argon2's callback form on the main thread,
// so a login would stall every connection; here it blocks only this worker. Derivation only.

import { argon2Sync } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

interface Job {
  id: number;
  message: Uint8Array;
  nonce: Uint8Array;
  memory: number;
  passes: number;
  parallelism: number;
  tagLength: number;
}

parentPort!.on('message', (j: Job) => {
  try {
    const tag = argon2Sync('argon2id', { message: j.message, nonce: j.nonce, memory: j.memory, passes: j.passes, parallelism: j.parallelism, tagLength: j.tagLength });
    parentPort!.postMessage({ id: j.id, tag });
  } catch (e) {
    parentPort!.postMessage({ id: j.id, error: (e as Error).message });
  }
});
