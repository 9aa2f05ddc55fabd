// store.queries.blobIds: referenced blob ids in order from a cursor, the repair loop's sweep source.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store, type AccountId } from '../../src/store/index.ts';
import { blobIdOf } from '../../src/blob/index.ts';
import { scratchDirs } from '../helpers/temp-dirs.ts';

const tempDir = scratchDirs('stormo-blobids-');

test('blobIds lists referenced ids after a cursor, in order, and drops unreferenced ones', async () => {
  const s = await Store.open({ dir: await tempDir(), nodeId: 'n1' });
  try {
    await s.execute({ type: 'createDomain', name: 'example.com', tenant: 'default' });
    const { accountId } = await s.execute<{ accountId: AccountId }>({ type: 'createAccount', address: 'a@example.com', passwordHash: 'h', quotaBytes: 0 });
    const ids = [1, 2, 3, 4].map((i) => blobIdOf(new TextEncoder().encode(`m${i}`)));
    for (const blobId of ids) await s.execute({ type: 'append', accountId, folder: 'INBOX', blobId, size: 2, internalDate: 1_700_000_000_000, flags: [] });
    await s.execute({ type: 'append', accountId, folder: 'INBOX', blobId: ids[0]!, size: 2, internalDate: 1_700_000_000_000, flags: [] });
    const sorted = [...ids].sort();
    assert.deepEqual(await s.queries.blobIds('', 100), sorted, 'each referenced id once, in id order');
    assert.deepEqual(await s.queries.blobIds('', 2), sorted.slice(0, 2));
    assert.deepEqual(await s.queries.blobIds(sorted[1]!, 100), sorted.slice(2), 'strictly after the cursor');
    assert.deepEqual(await s.queries.blobIds(sorted[3]!, 100), []);
    const inbox = await s.queries.folderByName(accountId, 'INBOX');
    const msgs = await s.queries.messages(accountId, inbox!.id, 100);
    const lone = msgs.find((m) => m.blobId === sorted[2])!;
    await s.execute({ type: 'remove', accountId, folderId: inbox!.id, uids: [lone.uid] });
    assert.deepEqual(await s.queries.blobIds('', 100), sorted.filter((id) => id !== sorted[2]), 'refs 0: no longer listed');
  } finally {
    await s.close();
  }
});
