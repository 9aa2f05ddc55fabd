// DESIGN principle 5: every replica applying the same log reaches the same state, byte for byte.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StoreMachine } from '../../src/store/machine.ts';
import { type Command, encodeCommand } from '../../src/store/commands.ts';
import { index, term, seededRandom } from '../../src/raft/index.ts';
import type { AccountId, FolderId, Uid } from '../../src/store/index.ts';

/** A seeded mix of commands, valid and invalid, over a few accounts and folders. */
function commands(seed: number, n: number): Command[] {
  const rnd = seededRandom(seed);
  const out: Command[] = [
    { type: 'createDomain', at: 1, name: 'example.com', tenant: 'default' },
    { type: 'createAccount', at: 2, address: 'a@example.com', passwordHash: 'h', quotaBytes: 50_000 },
    { type: 'createAccount', at: 3, address: 'b@example.com', passwordHash: 'h', quotaBytes: 0 },
  ];
  const accounts = ['a3', 'a4'] as AccountId[]; // ids come from the log index of createAccount (3 and 4, base 36)
  for (let i = 0; i < n; i++) {
    const accountId = accounts[rnd.int(2)]!;
    const folderId = (1 + rnd.int(3)) as FolderId;
    const uids = Array.from({ length: 1 + rnd.int(4) }, () => (1 + rnd.int(30)) as Uid);
    const r = rnd.int(6);
    const at = 1000 + i;
    if (r <= 1) out.push({ type: 'append', at, accountId, folder: ['INBOX', 'Drafts', 'Sent'][rnd.int(3)]!, blobId: `b${rnd.int(50)}`, size: 100 + rnd.int(5000), internalDate: at, flags: rnd.int(2) ? ['\\Seen'] : [] });
    else if (r === 2) out.push({ type: 'setFlags', at, accountId, folderId, uids, op: (['add', 'remove', 'replace'] as const)[rnd.int(3)]!, flags: ['\\Deleted', '$Junk'].slice(0, 1 + rnd.int(2)), unchangedSince: rnd.int(3) === 0 ? BigInt(rnd.int(20)) : null });
    else if (r === 3) out.push({ type: 'expunge', at, accountId, folderId, uids: rnd.int(2) ? uids : null });
    else if (r === 4) out.push({ type: 'copy', at, accountId, from: folderId, to: (1 + rnd.int(3)) as FolderId, uids, move: rnd.int(2) === 0 });
    else out.push({ type: 'createFolder', at, accountId, name: `F${rnd.int(5)}`, specialUse: null });
  }
  return out;
}

async function dump(m: StoreMachine): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of m.db.iterator()) out.push(`${k}=${Buffer.from(v).toString('hex')}`);
  return out;
}

test('two replicas applying the same log in different batch sizes end byte-identical', async () => {
  const dirs = [await mkdtemp(join(tmpdir(), 'stormo-det-')), await mkdtemp(join(tmpdir(), 'stormo-det-'))];
  try {
    const [m1, m2] = [await StoreMachine.open(dirs[0]!), await StoreMachine.open(dirs[1]!)];
    const log = commands(42, 600).map((c, i) => ({ index: index(i + 2), term: term(1), requestId: new Uint8Array([i >> 8, i & 255, 9]), data: encodeCommand(c) }));
    const r1 = await m1!.applyBatch(log);
    const r2: unknown[] = [];
    for (let i = 0; i < log.length; i += 7) r2.push(...(await m2!.applyBatch(log.slice(i, i + 7))));
    assert.deepEqual(r2, r1);
    const [d1, d2] = [await dump(m1!), await dump(m2!)];
    assert.ok(d1.filter((k) => k.startsWith('m\u0000')).length > 50, 'messages were stored');
    assert.deepEqual(d2, d1);
    assert.ok((r1 as { ok: boolean }[]).some((r) => !r.ok), 'some commands were refused, identically');
    await m1!.close();
    await m2!.close();
  } finally {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }
});
