// RawNode: the application's handle on the pure core, with the Ready / advance contract.
// Still pure: a driver owns the loop ready -> persist (fsync) -> send -> apply -> advance.

import { assert } from './assert.ts';
import type { RaftConfig } from './config.ts';
import { RaftError } from './errors.ts';
import { Raft, type Role, encodeConfChange } from './raft.ts';
import type { ReadState } from './read-only.ts';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type HardState,
  type LogIndex,
  type Message,
  type NodeId,
  type Snapshot,
  type Term,
  index,
  isHardStateEqual,
  isLocalMessage,
  message,
  term,
} from './types.ts';

export interface SoftState {
  readonly lead: NodeId;
  readonly role: Role;
}

/**
 * Everything the driver must do, in this order:
 * 1. persist `snapshot`, `entries` and `hardState` (fsync if `mustSync`);
 * 2. send `messages` (they may depend on what was just persisted);
 * 3. apply `snapshot`, then `committedEntries`, serve `readStates` once applied;
 * 4. call advance(ready).
 */
export interface Ready {
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
  /** Term, vote or entries changed: the write must reach the disk before messages go out. */
  readonly mustSync: boolean;
}

export interface Status {
  readonly id: NodeId;
  readonly term: Term;
  readonly vote: NodeId;
  readonly lead: NodeId;
  readonly role: Role;
  readonly commit: LogIndex;
  readonly applied: LogIndex;
  readonly lastIndex: LogIndex;
  readonly firstIndex: LogIndex;
  readonly conf: ConfState;
  readonly leadTransferee: NodeId;
  /** Leader only: each member's replication progress. */
  readonly progress: ReadonlyMap<NodeId, { match: LogIndex; next: LogIndex; state: string; recentActive: boolean }>;
}

export class RawNode {
  readonly raft: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  private outstanding = false;

  /** From a config, or from a prepared Raft (tests plant faulty subclasses this way). */
  constructor(configOrRaft: RaftConfig | Raft) {
    this.raft = configOrRaft instanceof Raft ? configOrRaft : new Raft(configOrRaft);
    this.prevSoft = this.softState();
    this.prevHard = this.raft.hardState();
  }

  tick(): void {
    this.raft.tick();
  }

  /** Start an election now (tests, bootstrap of a single node). */
  campaign(): void {
    this.raft.step(message({ type: 'hup', from: this.raft.id }));
  }

  /** Propose application data. Throws RaftError when it cannot be accepted. */
  propose(data: Uint8Array): void {
    this.proposeEntries([data]);
  }

  /** Several proposals in one message: one append, one fsync. */
  proposeEntries(datas: readonly Uint8Array[]): void {
    assert(datas.length > 0, 'empty proposal batch');
    this.raft.step(
      message({ type: 'prop', from: this.raft.id, entries: datas.map((data): Entry => ({ term: term(0), index: index(0), kind: 'normal', data })) }),
    );
  }

  proposeConfChange(cc: ConfChange): void {
    const data = encodeConfChange(cc);
    this.raft.step(message({ type: 'prop', from: this.raft.id, entries: [{ term: term(0), index: index(0), kind: 'conf', data }] }));
  }

  /** Apply a committed conf change entry; the driver persists the returned ConfState. */
  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  /**
   * A message from the network. Local-only types are refused: a peer cannot
   * make us campaign or report on our transport. Proposals from peers that
   * cannot be taken are dropped silently (the proposer retries on timeout).
   */
  step(m: Message): void {
    if (isLocalMessage(m.type)) return;
    if (m.type === 'prop' || m.type === 'readIndex') {
      try {
        this.raft.step(m);
      } catch (e) {
        if (!(e instanceof RaftError)) throw e;
      }
      return;
    }
    this.raft.step(m);
  }

  /** Ask for a linearizable read point; `context` must be unique per request. */
  readIndex(context: Uint8Array): void {
    // An empty context cannot be told apart from a plain heartbeat's: such a read would never be answered.
    assert(context.byteLength > 0, 'readIndex needs a non-empty, unique context');
    this.raft.step(message({ type: 'readIndex', from: this.raft.id, context }));
  }

  transferLeadership(to: NodeId): void {
    this.raft.step(message({ type: 'transferLeader', from: to, to: this.raft.id }));
  }

  reportUnreachable(id: NodeId): void {
    this.raft.step(message({ type: 'unreachable', from: id }));
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    this.raft.step(message({ type: 'snapStatus', from: id, reject: !ok }));
  }

  private softState(): SoftState {
    return { lead: this.raft.lead, role: this.raft.role };
  }

  hasReady(): boolean {
    const r = this.raft;
    const soft = this.softState();
    if (soft.lead !== this.prevSoft.lead || soft.role !== this.prevSoft.role) return true;
    const hs = r.hardState();
    if (!isHardStateEqual(hs, this.prevHard)) return true;
    if (r.log.hasPendingSnapshot()) return true;
    if (r.msgs.length > 0 || r.readStates.length > 0) return true;
    if (r.log.unstableEntries().length > 0) return true;
    return r.log.hasNextCommittedEntries();
  }

  ready(): Ready {
    assert(!this.outstanding, 'ready() called again before advance()');
    const r = this.raft;
    const soft = this.softState();
    const hs = r.hardState();
    const softChanged = soft.lead !== this.prevSoft.lead || soft.role !== this.prevSoft.role;
    const hardChanged = !isHardStateEqual(hs, this.prevHard);
    const entries = r.log.unstableEntries().slice();
    const rd: Ready = {
      softState: softChanged ? soft : undefined,
      hardState: hardChanged ? hs : undefined,
      entries,
      snapshot: r.log.unstable.snapshot,
      committedEntries: r.log.nextCommittedEntries(r.cfg.maxCommittedBytesPerReady),
      messages: r.msgs,
      readStates: r.readStates,
      mustSync: entries.length > 0 || hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote,
    };
    r.msgs = [];
    r.readStates = [];
    if (softChanged) this.prevSoft = soft;
    this.outstanding = true;
    return rd;
  }

  /** The driver did everything the Ready asked. */
  advance(rd: Ready): void {
    assert(this.outstanding, 'advance() without ready()');
    this.outstanding = false;
    const log = this.raft.log;
    if (rd.hardState) this.prevHard = rd.hardState;
    if (rd.snapshot) {
      log.stableSnapTo(rd.snapshot.meta.index);
      if (log.applied < rd.snapshot.meta.index) log.applied = rd.snapshot.meta.index;
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) log.stableTo(last.index, last.term);
    const lastCommitted = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastCommitted) {
      log.appliedTo(lastCommitted.index);
      this.raft.reduceUncommittedBytes(rd.committedEntries);
    }
  }

  status(): Status {
    const r = this.raft;
    const progress = new Map<NodeId, { match: LogIndex; next: LogIndex; state: string; recentActive: boolean }>();
    if (r.role === 'leader') {
      for (const [id, pr] of r.prs) progress.set(id, { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive });
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      lead: r.lead,
      role: r.role,
      commit: r.log.committed,
      applied: r.log.applied,
      lastIndex: r.log.lastIndex(),
      firstIndex: r.log.firstIndex(),
      conf: r.confState(),
      leadTransferee: r.leadTransferee,
      progress,
    };
  }
}
