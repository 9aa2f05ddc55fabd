// The store's replicated state machine over LevelDB: one batch per Ready, exactly-once by request id.
// Deterministic apply only; the proposer side (store.ts) and the network live elsewhere.

import { EventEmitter } from 'node:events';
import { ClassicLevel } from 'classic-level';
import type { AppliedCommand, StateMachine } from '../raft/index.ts';
import { adjustBlobRefs, applyCommand, type ApplyContext } from './apply.ts';
import { decodeCommand } from './commands.ts';
import { type ApplyResult, StoreError } from './errors.ts';
import { keys } from './keys.ts';
import { storeLimits } from './limits.ts';
import { type Db, Tx, packr } from './tx.ts';
import type { FolderChange } from './types.ts';

export interface StoreMachineEvents {
  /** Folder changes of one applied batch, after it is written. Every replica emits them. */
  changes: [changes: readonly FolderChange[]];
}

export class StoreMachine implements StateMachine {
  readonly db: Db;
  readonly events = new EventEmitter<StoreMachineEvents>();
  private applied = 0;

  private constructor(db: Db) {
    this.db = db;
  }

  static async open(dir: string): Promise<StoreMachine> {
    const db: Db = new ClassicLevel<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    try {
      await db.open();
    } catch (e) {
      throw new StoreError('STORAGE', `store: cannot open ${dir}`, { cause: e });
    }
    const m = new StoreMachine(db);
    const raw = await db.get(keys.applied);
    m.applied = raw === undefined ? 0 : (packr.unpack(raw) as number);
    return m;
  }

  /** The last log index whose effects are in the database (possibly not yet synced). */
  appliedIndex(): number {
    return this.applied;
  }

  apply(): never {
    throw new StoreError('INVALID', 'StoreMachine applies in batches (applyBatch)');
  }

  async applyBatch(cmds: readonly AppliedCommand[]): Promise<readonly unknown[]> {
    const tx = new Tx(this.db);
    const changes: FolderChange[] = [];
    const results: ApplyResult<unknown>[] = [];
    for (const cmd of cmds) {
      results.push(await this.applyOnce(tx, cmd, changes));
    }
    const last = cmds[cmds.length - 1];
    if (last) tx.put(keys.applied, last.index);
    try {
      // Not synced: the Raft log is the durable record; a lost tail is applied again at restart
      // because the applied index travels in the same atomic batch.
      await this.db.batch(tx.operations());
    } catch (e) {
      throw new StoreError('STORAGE', 'store: writing an applied batch failed', { cause: e });
    }
    if (last) this.applied = last.index;
    if (changes.length > 0) this.events.emit('changes', changes);
    return results;
  }

  /** A retried proposal (same request id) gets the first result and changes nothing (DESIGN principle 5). */
  private async applyOnce(tx: Tx, cmd: AppliedCommand, changes: FolderChange[]): Promise<ApplyResult<unknown>> {
    const rid = Buffer.from(cmd.requestId).toString('hex');
    const seen = await tx.get<ApplyResult<unknown>>(keys.request(rid));
    if (seen !== undefined) return seen;
    const local: FolderChange[] = [];
    const cx: ApplyContext = {
      tx,
      index: cmd.index,
      change: (c) => local.push(c),
      blobRef: (blobId, delta) => adjustBlobRefs(tx, blobId, delta),
    };
    let result: ApplyResult<unknown>;
    try {
      result = await applyCommand(cx, decodeCommand(cmd.data));
    } catch (e) {
      if (e instanceof StoreError) throw e;
      // A command that does not decode came from a buggy proposer: refuse it the same way everywhere.
      result = { ok: false, code: 'INVALID', message: `malformed command: ${(e as Error).message}` };
    }
    if (result.ok) changes.push(...local);
    tx.put(keys.request(rid), result);
    tx.put(keys.requestQueue(cmd.index), rid);
    const evict = cmd.index - storeLimits.requestsRememberedMax;
    if (evict > 0) {
      const old = await tx.get<string>(keys.requestQueue(evict));
      if (old !== undefined) {
        tx.del(keys.request(old));
        tx.del(keys.requestQueue(evict));
      }
    }
    return result;
  }

  /**
   * Called before the Raft log is compacted: make everything applied durable.
   * The image is only a marker; the state itself is this database.
   */
  async snapshot(): Promise<Uint8Array> {
    try {
      await this.db.put(keys.applied, packr.pack(this.applied), { sync: true });
    } catch (e) {
      throw new StoreError('STORAGE', 'store: syncing before a snapshot failed', { cause: e });
    }
    return packr.pack({ appliedIndex: this.applied });
  }

  restore(data: Uint8Array): void {
    // The bootstrap snapshot (empty image) is the empty store. Receiving a peer's state arrives
    // with the multi-node cluster (state transfer of the database), not on a single node.
    if (data.byteLength === 0 && this.applied === 0) return;
    // Our own snapshot marker: this database already holds everything up to it.
    if (data.byteLength > 0) {
      const marker = packr.unpack(data) as { appliedIndex?: unknown };
      if (typeof marker.appliedIndex === 'number' && marker.appliedIndex <= this.applied) return;
    }
    throw new StoreError('UNAVAILABLE', `store: installing a snapshot from a peer is not supported yet (applied ${this.applied})`);
  }

  async close(): Promise<void> {
    await this.db.close();
  }
}
