// The repair loop: brings every referenced blob back to N copies on its placement targets after a
// node returns empty, is replaced, or missed a put; trims spare copies left on non-targets.
// Must not decide what is referenced (the store does) nor delete a copy any target may still lack.
//
// Each node runs its own loop over the same referenced ids (the store's refcounts are replicated),
// in batches from a resumable cursor. For a batch it asks every target it shares a blob with which
// of them it holds ('blob.has', one request per peer), then per blob:
//   - this node is a target without a copy: it pulls one (verified by BlobStore.put's expectedId);
//   - a target lacks a copy: the first target in placement order that holds one pushes it (if no
//     target holds one, every node holding a spare copy pushes; for a hinted blob, the node that
//     recorded the hint pushes; a duplicate push is a cheap no-op);
//   - this node is not a target and every target holds the blob: its spare copy is deleted once
//     older than the grace period and unpinned (a put on a non-target leaves one).
// Hinted blobs (a failed replica copy, a quarantined local copy) are examined first in each pass.
// Copies are paced to repairBytesPerSecondMax and run repairConcurrencyMax at a time.

import { writeFile, readFile, rename } from 'node:fs/promises';
import { setTimeout as sleepMs } from 'node:timers/promises';
import type { NodeId } from '../raft/index.ts';
import { type BlobId, isBlobId } from './blob-id.ts';
import { isBlobError } from './errors.ts';
import { type RepairLimits, type ResolvedRepairLimits, validateRepairLimits } from './limits.ts';
import { placementTargets } from './placement.ts';
import type { BlobLogger, ReplicatedBlobStore } from './replicated.ts';

export interface RepairClock {
  nowMs(): number;
  /** Resolve after `ms`, or reject once `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemRepairClock: RepairClock = {
  nowMs: () => Date.now(),
  sleep: async (ms, signal) => {
    await sleepMs(ms, undefined, signal === undefined ? undefined : { signal });
  },
};

/** Where the sweep cursor survives a restart (losing it only repeats work). */
export interface RepairCursorStore {
  load(): Promise<string>;
  save(afterId: string): Promise<void>;
}

/** A cursor kept in one small file, replaced atomically by rename. */
export function fileRepairCursor(path: string): RepairCursorStore {
  return {
    load: async () => {
      const s = (await readFile(path, 'utf8').catch(() => '')).trim();
      return isBlobId(s) ? s : '';
    },
    save: async (afterId) => {
      await writeFile(`${path}.tmp`, afterId);
      await rename(`${path}.tmp`, path);
    },
  };
}

export interface BlobRepairOptions {
  blobs: ReplicatedBlobStore;
  /** Referenced blob ids greater than `afterId` ('' = from the start), in id order (store.queries.blobIds). */
  referencedIds: (afterId: string, limit: number) => Promise<readonly string[]>;
  limits?: Partial<RepairLimits>;
  clock?: RepairClock;
  /** A spare copy (this node not a target) younger than this is kept; default 1 h, GC's grace period. */
  spareGraceMs?: number;
  cursor?: RepairCursorStore;
  logger?: BlobLogger;
}

export interface RepairPassResult {
  examined: number;
  /** Copies found missing on reachable targets. */
  missingFound: number;
  /** Copies restored (pushed or pulled). */
  repaired: number;
  failed: number;
  sparesTrimmed: number;
  /** The sweep reached the last referenced id and starts again from the first in the next pass. */
  wrapped: boolean;
}

export interface RepairCounters {
  passes: number;
  examined: number;
  missingFound: number;
  repaired: number;
  failed: number;
  sparesTrimmed: number;
}

/** What one node knows about one blob's copies after asking the targets. */
interface BlobView {
  readonly id: BlobId;
  readonly targets: readonly NodeId[];
  readonly localHas: boolean;
  readonly holders: NodeId[];
  readonly missing: NodeId[];
  readonly unknown: NodeId[];
}

/** Paces bytes to a rate: each copy waits until the bytes before it are "paid" for. */
class BytePacer {
  private readonly bytesPerSecond: number;
  private readonly clock: RepairClock;
  private freeAtMs = 0;

  constructor(bytesPerSecond: number, clock: RepairClock) {
    this.bytesPerSecond = bytesPerSecond;
    this.clock = clock;
  }

  async ready(signal: AbortSignal | undefined): Promise<void> {
    const waitMs = this.freeAtMs - this.clock.nowMs();
    if (waitMs > 0) await this.clock.sleep(waitMs, signal);
  }

  pay(bytes: number): void {
    this.freeAtMs = Math.max(this.freeAtMs, this.clock.nowMs()) + (bytes * 1000) / this.bytesPerSecond;
  }
}

export class BlobRepairer {
  readonly limits: ResolvedRepairLimits;
  readonly counters: RepairCounters = { passes: 0, examined: 0, missingFound: 0, repaired: 0, failed: 0, sparesTrimmed: 0 };

  private readonly blobs: ReplicatedBlobStore;
  private readonly referencedIds: BlobRepairOptions['referencedIds'];
  private readonly clock: RepairClock;
  private readonly spareGraceMs: number;
  private readonly cursorStore: RepairCursorStore | undefined;
  private readonly logger: BlobLogger | undefined;
  private readonly pacer: BytePacer;
  /** Blobs under-replicated when last examined: missing-or-unknown copies and the sweep that saw it. */
  private readonly tracked = new Map<BlobId, { copiesShort: number; sweep: number }>();
  private untrackedShort = 0;
  private sweep = 0;
  private cursor: string | undefined;
  private loop: { ac: AbortController; done: Promise<void> } | undefined;

  constructor(o: BlobRepairOptions) {
    this.blobs = o.blobs;
    this.referencedIds = o.referencedIds;
    this.limits = validateRepairLimits(o.limits);
    this.clock = o.clock ?? systemRepairClock;
    this.spareGraceMs = o.spareGraceMs ?? 60 * 60 * 1000;
    this.cursorStore = o.cursor;
    this.logger = o.logger;
    this.pacer = new BytePacer(this.limits.repairBytesPerSecondMax, this.clock);
  }

  /** Copies known missing or unreachable, from the latest examination of each blob (for `stormo status`). */
  missingCopies(): number {
    let n = this.untrackedShort;
    for (const t of this.tracked.values()) n += t.copiesShort;
    return n;
  }

  /** Run passes every repairPassIntervalMs until stop(); a failed pass is logged and the next one runs. */
  start(): void {
    if (this.loop !== undefined) return;
    const ac = new AbortController();
    const done = (async () => {
      while (!ac.signal.aborted) {
        try {
          await this.runPass(ac.signal);
        } catch (e) {
          if (!ac.signal.aborted) this.logger?.warn({ subsystem: 'blob', event: 'repairPassFailed', err: e }, 'blob repair pass failed');
        }
        await this.clock.sleep(this.limits.repairPassIntervalMs, ac.signal).catch(() => {});
      }
    })();
    this.loop = { ac, done };
  }

  async stop(): Promise<void> {
    const loop = this.loop;
    this.loop = undefined;
    loop?.ac.abort();
    await loop?.done;
  }

  /** One bounded pass: hinted blobs, then up to repairBlobsPerPassMax referenced blobs from the cursor. */
  async runPass(signal?: AbortSignal): Promise<RepairPassResult> {
    const r: RepairPassResult = { examined: 0, missingFound: 0, repaired: 0, failed: 0, sparesTrimmed: 0, wrapped: false };
    const hinted = this.blobs.takeHints(this.limits.repairBatchBlobs);
    if (hinted.length > 0) await this.repairBatch(hinted, r, false, signal);
    this.cursor ??= (await this.cursorStore?.load()) ?? '';
    while (r.examined < this.limits.repairBlobsPerPassMax && signal?.aborted !== true) {
      const limit = Math.min(this.limits.repairBatchBlobs, this.limits.repairBlobsPerPassMax - r.examined);
      const raw = await this.referencedIds(this.cursor, limit);
      if (raw.length === 0) {
        this.finishSweep();
        r.wrapped = true;
        break;
      }
      await this.repairBatch(raw.filter(isBlobId), r, true, signal);
      this.cursor = raw[raw.length - 1]!;
      await this.cursorStore?.save(this.cursor);
    }
    this.counters.passes++;
    return r;
  }

  /** The sweep saw every referenced blob: forget blobs it did not find short (deleted or repaired elsewhere). */
  private finishSweep(): void {
    for (const [id, t] of this.tracked) if (t.sweep < this.sweep) this.tracked.delete(id);
    this.sweep++;
    this.untrackedShort = 0;
    this.cursor = '';
    void this.cursorStore?.save('').catch(() => {});
  }

  private async repairBatch(ids: readonly BlobId[], r: RepairPassResult, track: boolean, signal: AbortSignal | undefined): Promise<void> {
    const views = await this.examine(ids);
    r.examined += ids.length;
    this.counters.examined += ids.length;
    const tasks: (() => Promise<void>)[] = [];
    for (const v of views) {
      r.missingFound += v.missing.length;
      this.counters.missingFound += v.missing.length;
      const short = v.missing.length + v.unknown.length;
      this.note(v.id, short, track);
      if (!track && v.unknown.length > 0) this.blobs.addHint(v.id, v.unknown); // still unreachable: keep the hint
      if (short > 0) this.blobs.events.emit('blobUnderReplicated', v.id, v.holders.length);
      const actions = this.actionsFor(v, !track);
      if (actions.length > 0) tasks.push(() => this.runActions(v, actions, r, signal));
    }
    await runLimited(tasks, this.limits.repairConcurrencyMax);
  }

  /** Ask each peer, once, about the blobs it is a target of and this node could act on. */
  private async examine(ids: readonly BlobId[]): Promise<BlobView[]> {
    const self = this.blobs.self;
    const local = await Promise.all(ids.map((id) => this.blobs.local.has(id)));
    const members = this.blobs.currentMembers();
    const targets = ids.map((id) => placementTargets(id, members, this.blobs.limits.replicationFactor));
    const asks = new Map<NodeId, BlobId[]>();
    ids.forEach((id, i) => {
      if (!targets[i]!.includes(self) && !local[i]) return; // nothing this node could do for it
      for (const t of targets[i]!) {
        if (t === self) continue;
        const list = asks.get(t);
        if (list === undefined) asks.set(t, [id]);
        else list.push(id);
      }
    });
    const answers = new Map<NodeId, Map<BlobId, boolean>>();
    await Promise.all(
      [...asks].map(async ([peer, list]) => {
        const have = await this.blobs.client.has(peer, list);
        if (have !== undefined) answers.set(peer, new Map(list.map((id, k) => [id, have[k]!])));
      }),
    );
    const views: BlobView[] = [];
    ids.forEach((id, i) => {
      const ts = targets[i]!;
      if (!ts.includes(self) && !local[i]) return;
      const view: BlobView = { id, targets: ts, localHas: local[i]!, holders: [], missing: [], unknown: [] };
      for (const t of ts) {
        const has = t === self ? local[i] : answers.get(t)?.get(id);
        (has === true ? view.holders : has === false ? view.missing : view.unknown).push(t);
      }
      views.push(view);
    });
    return views;
  }

  private note(id: BlobId, short: number, track: boolean): void {
    if (short === 0) {
      this.tracked.delete(id);
      return;
    }
    if (!track && !this.tracked.has(id)) return; // a hinted blob may not be referenced: the sweep decides
    if (this.tracked.has(id) || this.tracked.size < this.limits.underReplicatedTrackedMax) this.tracked.set(id, { copiesShort: short, sweep: this.sweep });
    else this.untrackedShort += short;
  }

  /** 'pull', peers to push to, or 'trim' (see the header for who does what). */
  private actionsFor(v: BlobView, hinted: boolean): ('pull' | 'trim' | NodeId)[] {
    const self = this.blobs.self;
    const isTarget = v.targets.includes(self);
    if (isTarget && !v.localHas) return ['pull'];
    if (!v.localHas) return [];
    const firstHolder = v.holders[0];
    // A hint's recorder pushes itself: the other holders do not know the copy failed.
    const pusher = hinted || firstHolder === self || (firstHolder === undefined && !isTarget);
    const pushes = v.missing.length > 0 && pusher ? [...v.missing] : [];
    const spareRedundant = !isTarget && v.missing.length === 0 && v.unknown.length === 0;
    return spareRedundant && !this.blobs.local.isPinned(v.id) ? ['trim'] : pushes;
  }

  private async runActions(v: BlobView, actions: readonly ('pull' | 'trim' | NodeId)[], r: RepairPassResult, signal: AbortSignal | undefined): Promise<void> {
    for (const a of actions) {
      if (isAborted(signal)) return;
      try {
        if (a === 'trim') {
          if (await this.trimSpare(v.id)) {
            r.sparesTrimmed++;
            this.counters.sparesTrimmed++;
          }
          continue;
        }
        await this.pacer.ready(signal);
        const bytes = a === 'pull' ? await this.pull(v) : await this.push(v.id, a);
        this.pacer.pay(bytes);
        r.repaired++;
        this.counters.repaired++;
        const t = this.tracked.get(v.id);
        if (t !== undefined && --t.copiesShort <= 0) this.tracked.delete(v.id);
      } catch (e) {
        if (isAborted(signal)) return;
        r.failed++;
        this.counters.failed++;
        if (a !== 'trim') this.blobs.addHint(v.id, [a === 'pull' ? this.blobs.self : a]); // retried first next pass
        this.logger?.warn({ subsystem: 'blob', event: 'repairCopyFailed', blobId: v.id, action: a, err: e }, 'restoring a blob copy failed');
      }
    }
  }

  /** Fetch a verified copy from the first peer that gives one (holders first); returns its size. */
  private async pull(v: BlobView): Promise<number> {
    const order = [...new Set([...v.holders, ...this.blobs.peersFor(v.id)])].filter((p) => p !== this.blobs.self);
    let last: unknown;
    for (const peer of order) {
      try {
        return (await this.blobs.local.put(this.blobs.client.chunksFrom(peer, v.id), { expectedId: v.id })).size;
      } catch (e) {
        last = e;
      }
    }
    throw last ?? new Error(`no peer to pull ${v.id} from`);
  }

  private async push(id: BlobId, peer: NodeId): Promise<number> {
    const { size } = await this.blobs.local.stat(id);
    await this.blobs.client.copyTo(peer, id, size);
    return size;
  }

  /** Delete this node's spare copy if it is old enough and still unpinned. */
  private async trimSpare(id: BlobId): Promise<boolean> {
    try {
      const st = await this.blobs.local.stat(id);
      if (this.clock.nowMs() - st.mtimeMs < this.spareGraceMs) return false;
      return await this.blobs.local.delete(id, { unlessWrittenAfterMs: st.mtimeMs });
    } catch (e) {
      if (isBlobError(e, 'BLOB_NOT_FOUND') || isBlobError(e, 'BLOB_PINNED')) return false;
      throw e;
    }
  }
}

function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

/** Run `tasks` with at most `limit` at once. */
async function runLimited(tasks: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) await tasks[next++]!();
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
}
