// The store over a one-member Raft group: directory, folders, messages, quotas, exactly-once,
// restart and SIGKILL durability, and deterministic apply.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CommandInput, Store, StoreError, type AppendResult, type CopyResult, type FolderChange, type SetFlagsResult } from '../../src/store/index.ts';
import type { AccountId, FolderId, Uid } from '../../src/store/index.ts';

async function withStore(fn: (s: Store, dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-store-'));
  const s = await Store.open({ dir, nodeId: 'n1' });
  try {
    await fn(s, dir);
  } finally {
    await s.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

async function rejects(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof StoreError && e.code === code);
}

async function setup(s: Store, quotaBytes = 0): Promise<AccountId> {
  await s.execute({ type: 'createDomain', name: 'example.com', tenant: 'default' });
  const { accountId } = await s.execute<{ accountId: AccountId }>({ type: 'createAccount', address: 'Alice@Example.com', passwordHash: 'h', quotaBytes });
  return accountId;
}

function append(s: Store, accountId: AccountId, blobId: string, size = 100, folder = 'INBOX', flags: string[] = []): Promise<AppendResult> {
  return s.execute<AppendResult>({ type: 'append', accountId, folder, blobId, size, internalDate: 1_700_000_000_000, flags });
}

test('accounts get the special-use folders; the directory refuses duplicates and unknown domains', async () => {
  await withStore(async (s) => {
    const id = await setup(s);
    const folders = await s.queries.folders(id, 100);
    assert.deepEqual(
      folders.map((f) => [f.name, f.specialUse]),
      [['INBOX', null], ['Drafts', '\\Drafts'], ['Sent', '\\Sent'], ['Junk', '\\Junk'], ['Trash', '\\Trash'], ['Archive', '\\Archive']],
    );
    const validities = folders.map((f) => f.uidValidity);
    assert.equal(new Set(validities).size, validities.length, 'each folder has its own UIDVALIDITY');
    assert.equal((await s.queries.accountByAddress('alice@example.com'))?.id, id, 'addresses match case-insensitively');
    await rejects(s.execute({ type: 'createAccount', address: 'alice@example.com', passwordHash: 'h', quotaBytes: 0 }), 'EXISTS');
    await rejects(s.execute({ type: 'createAccount', address: 'bob@elsewhere.org', passwordHash: 'h', quotaBytes: 0 }), 'NOT_FOUND');
    await rejects(s.execute({ type: 'createAccount', address: 'not an address', passwordHash: 'h', quotaBytes: 0 }), 'INVALID');
    await rejects(s.execute({ type: 'deleteDomain', name: 'example.com' }), 'NOT_EMPTY');
  });
});

test('aliases and the catch-all resolve; removing them works', async () => {
  await withStore(async (s) => {
    const id = await setup(s);
    await s.execute({ type: 'addAlias', address: 'sales@example.com', targets: ['alice@example.com'] });
    await s.execute({ type: 'addAlias', address: '@example.com', targets: ['alice@example.com'] });
    assert.deepEqual(await s.queries.resolveAddress('SALES@example.com'), { kind: 'alias', targets: ['alice@example.com'] });
    assert.deepEqual(await s.queries.resolveAddress('anyone@example.com'), { kind: 'alias', targets: ['alice@example.com'] });
    assert.deepEqual(await s.queries.resolveAddress('alice@example.com'), { kind: 'account', accountId: id });
    assert.equal(await s.queries.resolveAddress('x@other.org'), undefined);
    await rejects(s.execute({ type: 'addAlias', address: 'alice@example.com', targets: ['x@example.com'] }), 'EXISTS');
    await s.execute({ type: 'removeAlias', address: '@example.com' });
    assert.equal(await s.queries.resolveAddress('anyone@example.com'), undefined);
  });
});

test('UIDs strictly ascend, MODSEQ only grows, UIDVALIDITY is stable (G3)', async () => {
  await withStore(async (s) => {
    const id = await setup(s);
    const results: AppendResult[] = [];
    for (let i = 0; i < 20; i++) results.push(await append(s, id, `b${i}`));
    for (let i = 1; i < results.length; i++) {
      assert.equal(results[i]!.uid, results[i - 1]!.uid + 1);
      assert.ok(results[i]!.modSeq > results[i - 1]!.modSeq);
      assert.equal(results[i]!.uidValidity, results[0]!.uidValidity);
    }
    const inbox = await s.queries.folderByName(id, 'inbox');
    assert.equal(inbox?.exists, 20);
    assert.equal(inbox?.uidNext, 21);
    assert.equal((await s.queries.account(id))?.usedBytes, 2000);
  });
});

test('flags with UNCHANGEDSINCE, expunge only \\Deleted, copy and move with COPYUID, blob references', async () => {
  await withStore(async (s) => {
    const id = await setup(s);
    const inbox = (await s.queries.folderByName(id, 'INBOX'))!;
    const a = await append(s, id, 'blob-a');
    const b = await append(s, id, 'blob-b');
    const f1 = await s.execute<SetFlagsResult>({ type: 'setFlags', accountId: id, folderId: inbox.id, uids: [a.uid, b.uid], op: 'add', flags: ['\\Seen'], unchangedSince: null });
    assert.equal(f1.changed.length, 2);
    const f2 = await s.execute<SetFlagsResult>({ type: 'setFlags', accountId: id, folderId: inbox.id, uids: [a.uid], op: 'add', flags: ['\\Deleted'], unchangedSince: a.modSeq });
    assert.deepEqual(f2.modified, [a.uid], 'changed since: RFC 7162 MODIFIED');
    assert.equal(f2.changed.length, 0);
    await s.execute({ type: 'setFlags', accountId: id, folderId: inbox.id, uids: [a.uid], op: 'add', flags: ['\\Deleted'], unchangedSince: null });

    const archive = (await s.queries.folderByName(id, 'Archive'))!;
    const cp = await s.execute<CopyResult>({ type: 'copy', accountId: id, from: inbox.id, to: archive.id, uids: [a.uid, b.uid, 999 as Uid], move: false });
    assert.deepEqual(cp.sourceUids, [a.uid, b.uid], 'missing UIDs are skipped');
    assert.deepEqual(cp.destUids, [1, 2]);
    assert.equal(cp.uidValidity, archive.uidValidity);
    assert.equal(await s.queries.blobRefs('blob-a'), 2);

    const ex = await s.execute<{ expunged: Uid[] }>({ type: 'expunge', accountId: id, folderId: inbox.id, uids: null });
    assert.deepEqual(ex.expunged, [a.uid], 'only the message flagged \\Deleted');
    assert.equal(await s.queries.blobRefs('blob-a'), 1);
    const mv = await s.execute<CopyResult>({ type: 'copy', accountId: id, from: inbox.id, to: archive.id, uids: [b.uid], move: true });
    assert.deepEqual(mv.destUids, [3]);
    assert.equal(await s.queries.message(id, inbox.id, b.uid), undefined);
    assert.equal(await s.queries.blobRefs('blob-b'), 2, 'the copy and the moved message');
    const after = (await s.queries.folderByName(id, 'INBOX'))!;
    assert.equal(after.exists, 0);
    assert.ok(after.highestModSeq > inbox.highestModSeq);
  });
});

test('message extras (MIME summary, washer record) are kept, copied, moved and expunged with the message', async () => {
  await withStore(async (s) => {
    const id = await setup(s);
    const summary = Uint8Array.from([1, 2, 3, 250]);
    const r = await s.execute<AppendResult>({
      type: 'append', accountId: id, folder: 'INBOX', blobId: 'b1', size: 10, internalDate: 1, flags: [],
      extras: { summary, filter: { score: 3.5, outcome: 'inbox' } },
    });
    await append(s, id, 'b2');
    const got = await s.queries.messageExtras(id, r.folderId, r.uid);
    assert.deepEqual(got?.summary ? [...got.summary] : null, [...summary]);
    assert.deepEqual(got?.filter, { score: 3.5, outcome: 'inbox' });
    assert.deepEqual([...(await s.queries.messagesExtras(id, r.folderId, 10)).keys()], [r.uid], 'a message without extras is absent');
    const archive = (await s.queries.folderByName(id, 'Archive'))!;
    const moved = await s.execute<CopyResult>({ type: 'copy', accountId: id, from: r.folderId, to: archive.id, uids: [r.uid], move: true });
    assert.equal(await s.queries.messageExtras(id, r.folderId, r.uid), undefined, 'gone from the source after MOVE');
    assert.deepEqual((await s.queries.messageExtras(id, archive.id, moved.destUids[0]!))?.filter, { score: 3.5, outcome: 'inbox' });
    await s.execute({ type: 'remove', accountId: id, folderId: archive.id, uids: [moved.destUids[0]!] });
    assert.equal(await s.queries.messageExtras(id, archive.id, moved.destUids[0]!), undefined);
    await rejects(
      s.execute({ type: 'append', accountId: id, folder: 'INBOX', blobId: 'b3', size: 1, internalDate: 1, flags: [], extras: { summary: new Uint8Array(300 * 1024) } }),
      'INVALID',
    );
  });
});

test('domain and account settings: set, replace, remove, bounded, gone with their owner', async () => {
  await withStore(async (s) => {
    const id = await setup(s);
    await s.execute({ type: 'setDomainSetting', name: 'Example.com', key: 'filter', value: { junkScore: 5 } });
    await s.execute({ type: 'setAccountSetting', address: 'alice@example.com', key: 'filter', value: { block: ['spam@x.org'] } });
    assert.deepEqual(await s.queries.domainSetting('example.com', 'filter'), { junkScore: 5 });
    assert.deepEqual(await s.queries.accountSetting(id, 'filter'), { block: ['spam@x.org'] });
    await s.execute({ type: 'setAccountSetting', address: 'alice@example.com', key: 'filter', value: null });
    assert.equal(await s.queries.accountSetting(id, 'filter'), undefined);
    await rejects(s.execute({ type: 'setDomainSetting', name: 'example.com', key: 'Bad Key', value: 1 }), 'INVALID');
    await rejects(s.execute({ type: 'setDomainSetting', name: 'example.com', key: 'big', value: 'x'.repeat(70_000) }), 'INVALID');
    await rejects(s.execute({ type: 'setAccountSetting', address: 'nobody@example.com', key: 'filter', value: 1 }), 'NOT_FOUND');
    await s.execute({ type: 'setAccountSetting', address: 'alice@example.com', key: 'filter', value: { a: 1 } });
    await s.execute({ type: 'deleteAccount', address: 'alice@example.com' });
    assert.equal(await s.queries.accountSetting(id, 'filter'), undefined, 'removed with the account');
    await s.execute({ type: 'deleteDomain', name: 'example.com' });
    assert.equal(await s.queries.domainSetting('example.com', 'filter'), undefined, 'removed with the domain');
  });
});

test('quota: a message that would exceed it is refused, nothing changes', async () => {
  await withStore(async (s) => {
    const id = await setup(s, 250);
    await append(s, id, 'q1');
    await append(s, id, 'q2');
    await rejects(append(s, id, 'q3'), 'QUOTA_EXCEEDED');
    assert.equal((await s.queries.account(id))?.usedBytes, 200);
    assert.equal((await s.queries.folderByName(id, 'INBOX'))?.exists, 2);
    assert.equal(await s.queries.blobRefs('q3'), 0);
  });
});

test('folders: create, rename with children, delete; UIDVALIDITY of a recreated name differs', async () => {
  await withStore(async (s) => {
    const id = await setup(s);
    const first = await s.execute<{ folderId: FolderId; uidValidity: number }>({ type: 'createFolder', accountId: id, name: 'Work', specialUse: null });
    await s.execute({ type: 'createFolder', accountId: id, name: 'Work/2026', specialUse: null });
    await rejects(s.execute({ type: 'createFolder', accountId: id, name: 'work/', specialUse: null }), 'INVALID');
    await s.execute({ type: 'renameFolder', accountId: id, from: 'Work', to: 'Job' });
    assert.ok(await s.queries.folderByName(id, 'Job/2026'));
    assert.equal(await s.queries.folderByName(id, 'Work'), undefined);
    // RFC 9051 §6.3.5: deleting a folder with inferior names keeps the children.
    await s.execute({ type: 'deleteFolder', accountId: id, name: 'Job' });
    assert.equal(await s.queries.folderByName(id, 'Job'), undefined);
    assert.ok(await s.queries.folderByName(id, 'Job/2026'));
    await s.execute({ type: 'deleteFolder', accountId: id, name: 'Job/2026' });
    const again = await s.execute<{ folderId: FolderId; uidValidity: number }>({ type: 'createFolder', accountId: id, name: 'Work', specialUse: null });
    assert.notEqual(again.folderId, first.folderId);
    assert.ok(again.uidValidity > first.uidValidity);
    await rejects(s.execute({ type: 'deleteFolder', accountId: id, name: 'inbox' }), 'INVALID');
  });
});

test('renaming INBOX moves its messages to the new folder; INBOX stays, empty (RFC 9051 §6.3.6)', async () => {
  await withStore(async (s) => {
    const id = await setup(s);
    await append(s, id, 'r1', 10);
    await append(s, id, 'r2', 20, 'INBOX', ['\\Seen']);
    const inbox = (await s.queries.folderByName(id, 'INBOX'))!;
    await s.execute({ type: 'renameFolder', accountId: id, from: 'inbox', to: 'Old' });
    const old = (await s.queries.folderByName(id, 'Old'))!;
    assert.deepEqual((await s.queries.messages(id, old.id, 10)).map((m) => [m.uid, m.blobId, m.flags]), [[1, 'r1', []], [2, 'r2', ['\\Seen']]]);
    assert.equal(old.exists, 2);
    assert.equal(old.bytes, 30);
    const after = (await s.queries.folderByName(id, 'INBOX'))!;
    assert.equal(after.id, inbox.id);
    assert.equal(after.exists, 0);
    assert.equal(after.uidValidity, inbox.uidValidity);
    assert.equal((await s.queries.messages(id, inbox.id, 10)).length, 0);
    assert.equal(await s.queries.blobRefs('r1'), 1);
    await rejects(s.execute({ type: 'renameFolder', accountId: id, from: 'INBOX', to: 'Old' }), 'EXISTS');
  });
});

test('a retried command with the same request id applies once', async () => {
  await withStore(async (s) => {
    const id = await setup(s);
    const requestId = new Uint8Array(16).fill(7);
    const cmd: CommandInput = { type: 'append', accountId: id, folder: 'INBOX', blobId: 'dup', size: 10, internalDate: 0, flags: [] };
    const r1 = await s.execute<AppendResult>(cmd, { requestId });
    const r2 = await s.execute<AppendResult>(cmd, { requestId });
    assert.deepEqual(r2, r1);
    assert.equal((await s.queries.folderByName(id, 'INBOX'))?.exists, 1);
    assert.equal(await s.queries.blobRefs('dup'), 1);
  });
});

test('the change feed reports appends, flag changes and expunges', async () => {
  await withStore(async (s) => {
    const id = await setup(s);
    const seen: FolderChange[] = [];
    s.onChanges((cs) => seen.push(...cs));
    const a = await append(s, id, 'c1');
    await s.execute({ type: 'setFlags', accountId: id, folderId: a.folderId, uids: [a.uid], op: 'add', flags: ['\\Deleted'], unchangedSince: null });
    await s.execute({ type: 'expunge', accountId: id, folderId: a.folderId, uids: [a.uid] });
    assert.deepEqual(seen.map((c) => [c.kind, c.uids]), [['exists', [a.uid]], ['flags', [a.uid]], ['expunge', [a.uid]]]);
  });
});

test('state survives a restart: UIDNEXT continues, UIDVALIDITY unchanged', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-store-'));
  try {
    let s = await Store.open({ dir, nodeId: 'n1', snapshotEntries: 5 });
    const id = await setup(s);
    const before: AppendResult[] = [];
    for (let i = 0; i < 12; i++) before.push(await append(s, id, `r${i}`));
    await s.close();
    s = await Store.open({ dir, nodeId: 'n1', snapshotEntries: 5 });
    const next = await append(s, id, 'after');
    assert.equal(next.uid, 13);
    assert.equal(next.uidValidity, before[0]!.uidValidity);
    assert.equal((await s.queries.folderByName(id, 'INBOX'))?.exists, 13);
    await s.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('SIGKILL while appending: every acknowledged message is there exactly once (G1 on one node)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-store-kill-'));
  try {
    const s = await Store.open({ dir, nodeId: 'n1' });
    await s.execute({ type: 'createDomain', name: 'example.com', tenant: 'default' });
    await s.execute({ type: 'createAccount', address: 'k@example.com', passwordHash: 'h', quotaBytes: 0 });
    await s.close();
    const acked = new Map<string, number>();
    for (let round = 0; round < 4; round++) {
      const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures', 'append-writer.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
      let buf = '';
      const ready = new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          buf += d.toString();
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            if (line === 'ready') resolve();
            const m = /^acked (\d+) (\S+)$/.exec(line);
            if (m) acked.set(m[2]!, Number(m[1]));
          }
        });
      });
      await ready;
      await new Promise((r) => setTimeout(r, 150 + round * 80));
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    const s2 = await Store.open({ dir, nodeId: 'n1' });
    const a = (await s2.queries.accountByAddress('k@example.com'))!;
    const inbox = (await s2.queries.folderByName(a.id, 'INBOX'))!;
    const msgs = await s2.queries.messages(a.id, inbox.id, 1_000_000);
    await s2.close();
    const byBlob = new Map(msgs.map((m) => [m.blobId, m.uid]));
    assert.ok(acked.size > 20, `only ${acked.size} appends acknowledged`);
    for (const [blob, uid] of acked) assert.equal(byBlob.get(blob), uid, `acknowledged ${blob} (uid ${uid}) lost or moved`);
    assert.equal(new Set(msgs.map((m) => m.blobId)).size, msgs.length, 'no duplicates');
    for (let i = 1; i < msgs.length; i++) assert.ok(msgs[i]!.uid > msgs[i - 1]!.uid);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
