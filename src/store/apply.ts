// The store's apply: one typed table from command type to handler. Deterministic.
// Handlers read and write through a Tx and report folder changes; no I/O of their own.

import type { Command, CommandType } from './commands.ts';
import * as dir from './apply-directory.ts';
import * as mbox from './apply-mailbox.ts';
import type { ApplyResult } from './errors.ts';
import { keys } from './keys.ts';
import type { Tx } from './tx.ts';
import type { FolderChange } from './types.ts';

export interface ApplyContext {
  readonly tx: Tx;
  /** The Raft log index of the command: decides ids, never a replica's clock. */
  readonly index: number;
  change(c: FolderChange): void;
  blobRef(blobId: string, delta: 1 | -1): Promise<void>;
}

type Handler<T extends CommandType> = (cx: ApplyContext, c: Extract<Command, { type: T }>) => Promise<ApplyResult<unknown>>;

const handlers: { [T in CommandType]: Handler<T> } = {
  createTenant: dir.createTenant,
  createDomain: dir.createDomain,
  deleteDomain: dir.deleteDomain,
  createAccount: dir.createAccount,
  setPassword: dir.setPassword,
  setQuota: dir.setQuota,
  deleteAccount: dir.deleteAccount,
  setDomainSetting: dir.setDomainSetting,
  setAccountSetting: dir.setAccountSetting,
  addAlias: dir.addAlias,
  removeAlias: dir.removeAlias,
  createFolder: mbox.createFolder,
  renameFolder: mbox.renameFolder,
  deleteFolder: mbox.deleteFolder,
  subscribe: mbox.subscribe,
  append: mbox.append,
  setFlags: mbox.setFlags,
  expunge: mbox.expunge,
  remove: mbox.remove,
  copy: mbox.copy,
};

export function applyCommand(cx: ApplyContext, c: Command): Promise<ApplyResult<unknown>> {
  const h = handlers[c.type] as Handler<CommandType> | undefined;
  if (!h) return Promise.resolve({ ok: false, code: 'INVALID', message: `unknown command ${String(c.type)}` });
  return h(cx, c as never);
}

/** Count references to a body; at zero the blob becomes collectable. */
export async function adjustBlobRefs(tx: Tx, blobId: string, delta: number): Promise<void> {
  const n = ((await tx.get<number>(keys.blobRefs(blobId))) ?? 0) + delta;
  if (n <= 0) tx.del(keys.blobRefs(blobId));
  else tx.put(keys.blobRefs(blobId), n);
}
