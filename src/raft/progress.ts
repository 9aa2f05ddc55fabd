// The leader's view of each follower: match/next, probe/replicate/snapshot state, inflight window.
// Pure bookkeeping; the leader (raft.ts) decides what to send from it.

import { assert } from './assert.ts';
import { type LogIndex, index } from './types.ts';

/**
 * A bounded window of in-flight AppendEntries, by last index and payload
 * bytes (flow control: the leader never has more than `countMax` messages or
 * `bytesMax` bytes outstanding to one follower).
 */
export class Inflights {
  private readonly buf: { last: LogIndex; bytes: number }[] = [];
  private bytesInFlight = 0;
  readonly countMax: number;
  readonly bytesMax: number;

  constructor(countMax: number, bytesMax: number) {
    this.countMax = countMax;
    this.bytesMax = bytesMax;
  }

  add(last: LogIndex, bytes: number): void {
    assert(!this.full(), 'inflights.add on a full window');
    const tail = this.buf[this.buf.length - 1];
    assert(tail === undefined || tail.last < last, () => `inflights not ascending: ${tail?.last} then ${last}`);
    this.buf.push({ last, bytes });
    this.bytesInFlight += bytes;
  }

  /** The follower acknowledged everything up to `to`: free those slots. */
  freeLE(to: LogIndex): void {
    let n = 0;
    while (n < this.buf.length && this.buf[n]!.last <= to) {
      this.bytesInFlight -= this.buf[n]!.bytes;
      n++;
    }
    if (n > 0) this.buf.splice(0, n);
  }

  /** Free the oldest slot: a window whose appends were lost must not stall replication forever. */
  freeFirstOne(): void {
    const first = this.buf[0];
    if (first !== undefined) this.freeLE(first.last);
  }

  full(): boolean {
    return this.buf.length >= this.countMax || (this.bytesMax > 0 && this.bytesInFlight >= this.bytesMax);
  }

  count(): number {
    return this.buf.length;
  }

  reset(): void {
    this.buf.length = 0;
    this.bytesInFlight = 0;
  }
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match: LogIndex = index(0);
  next: LogIndex;
  state: ProgressState = 'probe';
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot: LogIndex = index(0);
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** In probe state: one append is outstanding, wait for its answer or a heartbeat. */
  probeSent = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(next: LogIndex, inflights: Inflights, isLearner: boolean) {
    this.next = next;
    this.inflights = inflights;
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = index(0);
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot, resume probing just past it: the follower has it or will ask again.
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = index(Math.max(this.match + 1, pending + 1));
    } else {
      this.resetState('probe');
      this.next = index(this.match + 1);
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = index(this.match + 1);
  }

  becomeSnapshot(snapshotIndex: LogIndex): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** An acknowledgement up to n arrived. Returns whether match moved. */
  maybeUpdate(n: LogIndex): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = index(Math.max(this.next, n + 1));
    return updated;
  }

  /**
   * The follower rejected an append at `rejected`; `matchHint` is the largest
   * index it may share with us. Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: LogIndex, matchHint: LogIndex): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = index(this.match + 1);
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = index(Math.max(Math.min(rejected, matchHint + 1), this.match + 1));
    this.probeSent = false;
    return true;
  }

  /** An append carrying entries up to `last` (possibly none) was sent. */
  sentEntries(last: LogIndex, count: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = index(last + 1);
        this.inflights.add(last, bytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }
}

/** Raft §5.3: the highest index stored on a majority of voters. */
export function quorumCommitIndex(matches: readonly LogIndex[]): LogIndex {
  if (matches.length === 0) return index(0);
  const sorted = [...matches].sort((a, b) => b - a);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** Tally votes among `voters`: a majority of grants wins, a majority of rejections loses. */
export function tallyVotes(voters: Iterable<string>, votes: ReadonlyMap<string, boolean>): VoteResult {
  let granted = 0;
  let rejected = 0;
  let n = 0;
  for (const v of voters) {
    n++;
    const r = votes.get(v);
    if (r === true) granted++;
    else if (r === false) rejected++;
  }
  const q = Math.floor(n / 2) + 1;
  if (granted >= q) return 'won';
  if (rejected >= q) return 'lost';
  return 'pending';
}
