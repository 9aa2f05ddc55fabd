// The Raft consensus state machine (Ongaro & Ousterhout; thesis; etcd/raft's design).
// Pure: time enters only as tick(), everything else as step(message); no I/O, timers, clocks or Math.random.

import { assert } from './assert.ts';
import { type ResolvedRaftConfig, type RaftConfig, validateConfig } from './config.ts';
import { RaftError } from './errors.ts';
import { RaftLog } from './log.ts';
import { Inflights, Progress, quorumCommitIndex, tallyVotes } from './progress.ts';
import { ReadOnly, type ReadState } from './read-only.ts';
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
  entriesBytes,
  index,
  isLocalMessage,
  message,
  noNode,
  term,
} from './types.ts';

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Context marking a vote request as part of a leadership transfer (skips the lease check). */
const transferContext = new TextEncoder().encode('transfer');

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const v = JSON.parse(new TextDecoder().decode(data)) as ConfChange;
  assert(
    (v.type === 'addNode' || v.type === 'addLearner' || v.type === 'removeNode') && typeof v.node === 'string',
    'malformed conf change entry',
  );
  return v;
}

function isTransferContext(ctx: Uint8Array | undefined): boolean {
  return ctx !== undefined && ctx.byteLength === transferContext.byteLength && ctx.every((b, i) => b === transferContext[i]);
}

export class Raft {
  readonly id: NodeId;
  readonly cfg: ResolvedRaftConfig;
  readonly log: RaftLog;

  term: Term = term(0);
  vote: NodeId = noNode;
  role: Role = 'follower';
  lead: NodeId = noNode;
  /** Membership: each member's progress; meaningful on the leader, membership everywhere. */
  readonly prs = new Map<NodeId, Progress>();
  votes = new Map<string, boolean>();
  /** Messages to send once the Ready carrying them has been persisted. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  leadTransferee: NodeId = noNode;
  /** A TimeoutNow came while a committed conf change was unapplied: campaign at the first tick after it is. */
  pendingTimeoutNow = false;
  /** Index of the latest conf change the leader appended; a new one waits until it is applied. */
  pendingConfIndex: LogIndex = index(0);
  uncommittedBytes = 0;
  readonly readOnly: ReadOnly;
  /** ReadIndex requests that arrived before the leader committed an entry of its term. */
  pendingReadIndexMessages: Message[] = [];

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  constructor(config: RaftConfig) {
    this.cfg = validateConfig(config);
    this.id = this.cfg.id;
    this.log = new RaftLog(this.cfg.storage);
    this.readOnly = new ReadOnly(this.cfg.readIndexPendingMax);
    const { hardState, confState } = this.cfg.storage.initialState();
    this.applyConfState(confState);
    if (hardState.term !== 0 || hardState.commit !== 0 || hardState.vote !== noNode) this.loadHardState(hardState);
    if (this.cfg.applied > 0) this.log.appliedTo(this.cfg.applied);
    this.becomeFollower(this.term, noNode);
  }

  private loadHardState(hs: HardState): void {
    assert(
      hs.commit >= this.log.committed && hs.commit <= this.log.lastIndex(),
      () => `hard state commit ${hs.commit} outside [${this.log.committed}, ${this.log.lastIndex()}]`,
    );
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  confState(): ConfState {
    const voters: NodeId[] = [];
    const learners: NodeId[] = [];
    for (const [id, pr] of this.prs) (pr.isLearner ? learners : voters).push(id);
    return { voters: voters.sort(), learners: learners.sort() };
  }

  voters(): NodeId[] {
    const out: NodeId[] = [];
    for (const [id, pr] of this.prs) if (!pr.isLearner) out.push(id);
    return out;
  }

  /** A node can campaign only if it is a voter in its own view of the membership. */
  promotable(): boolean {
    const pr = this.prs.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.log.hasPendingSnapshot();
  }

  private newProgress(isLearner: boolean): Progress {
    return new Progress(
      index(this.log.lastIndex() + 1),
      new Inflights(this.cfg.maxInflightMsgs, this.cfg.maxInflightBytes),
      isLearner,
    );
  }

  private applyConfState(cs: ConfState): void {
    this.prs.clear();
    for (const v of cs.voters) this.prs.set(v, this.newProgress(false));
    for (const l of cs.learners) this.prs.set(l, this.newProgress(true));
  }

  // ---- outgoing messages ----

  send(m: Partial<Message> & Pick<Message, 'type' | 'to'>): void {
    const t = m.type;
    // Votes and their answers carry their own term; local messages none.
    const withTerm =
      t === 'vote' || t === 'voteResp' || t === 'preVote' || t === 'preVoteResp' || t === 'prop' || t === 'readIndex'
        ? m
        : { ...m, term: this.term };
    if (t === 'prop' || t === 'readIndex') {
      // Forwarded requests carry no term: they are never rejected as stale.
      this.msgs.push(message({ ...withTerm, from: this.id, term: term(0) }));
      return;
    }
    assert(withTerm.term !== undefined && withTerm.term !== 0, () => `message ${t} without term`);
    this.msgs.push(message({ ...withTerm, from: this.id }));
  }

  /** Send entries (or a snapshot) to `to` if its window allows. Returns whether a message went out. */
  maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = index(pr.next - 1);
    const prevTerm = this.log.term(prevIndex);
    const ents = this.log.entriesFrom(pr.next, this.cfg.maxSizePerMsgBytes);
    if (prevTerm === undefined || ents === undefined) return this.maybeSendSnapshot(to, pr);
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send({ type: 'app', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed });
    const last = ents.length > 0 ? ents[ents.length - 1]!.index : prevIndex;
    pr.sentEntries(last, ents.length, entriesBytes(ents));
    return true;
  }

  sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  private maybeSendSnapshot(to: NodeId, pr: Progress): boolean {
    // A snapshot is heavy: send it only to a follower that is known to be alive.
    if (!pr.recentActive) return false;
    const snap = this.log.snapshot();
    assert(snap.meta.index > 0, 'need a snapshot but the log has none');
    pr.becomeSnapshot(snap.meta.index);
    this.send({ type: 'snap', to, snapshot: snap });
    return true;
  }

  /** Heartbeats never carry a commit index past what the follower is known to hold. */
  private sendHeartbeat(to: NodeId, context: Uint8Array | undefined): void {
    const pr = this.prs.get(to)!;
    const commit = index(Math.min(pr.match, this.log.committed));
    this.send({ type: 'heartbeat', to, commit, ...(context ? { context } : {}) });
  }

  bcastAppend(): void {
    for (const id of this.prs.keys()) if (id !== this.id) this.sendAppend(id);
  }

  bcastHeartbeat(context?: Uint8Array): void {
    const ctx = context ?? this.readOnly.lastPendingContext();
    for (const id of this.prs.keys()) if (id !== this.id) this.sendHeartbeat(id, ctx);
  }

  // ---- role transitions ----

  private reset(t: Term): void {
    if (this.term !== t) {
      this.term = t;
      this.vote = noNode;
    }
    this.lead = noNode;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.cfg.random.int(this.cfg.electionTicks);
    this.leadTransferee = noNode;
    this.pendingTimeoutNow = false;
    this.votes = new Map();
    for (const [id, pr] of this.prs) {
      const fresh = this.newProgress(pr.isLearner);
      if (id === this.id) fresh.match = this.log.lastIndex();
      this.prs.set(id, fresh);
    }
    this.pendingConfIndex = index(0);
    this.uncommittedBytes = 0;
    this.readOnly.reset();
    this.pendingReadIndexMessages = [];
  }

  becomeFollower(t: Term, lead: NodeId): void {
    this.reset(t);
    this.role = 'follower';
    this.lead = lead;
  }

  becomePreCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become pre-candidate');
    // Pre-vote changes neither term nor vote (thesis §9.6).
    this.votes = new Map();
    this.role = 'preCandidate';
    this.lead = noNode;
  }

  becomeCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become candidate');
    this.reset(term(this.term + 1));
    this.vote = this.id;
    this.role = 'candidate';
  }

  becomeLeader(): void {
    assert(this.role !== 'follower', 'follower cannot become leader directly');
    this.reset(this.term);
    this.role = 'leader';
    this.lead = this.id;
    this.prs.get(this.id)?.becomeReplicate();
    // Raft §8: commit a no-op of the new term so earlier entries commit and reads are safe.
    this.appendEntries([{ kind: 'normal', data: new Uint8Array(0) }]);
    // Thesis §4.1 (and Ongaro's 2015 fix): no membership change until an entry of this term is applied.
    this.pendingConfIndex = this.log.lastIndex();
  }

  // ---- elections ----

  hup(transfer: boolean): void {
    if (this.role === 'leader' || !this.promotable()) return;
    if (this.hasUnappliedConfChange()) return; // membership may be about to change under us
    if (this.cfg.preVote && !transfer) this.campaign('preElection', false);
    else this.campaign('election', transfer);
  }

  private hasUnappliedConfChange(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const ents = this.log.slice(index(this.log.applied + 1), index(this.log.committed + 1), Number.MAX_SAFE_INTEGER);
    return ents.some((e) => e.kind === 'conf');
  }

  private campaign(kind: 'preElection' | 'election', transfer: boolean): void {
    let voteType: 'preVote' | 'vote';
    let voteTerm: Term;
    if (kind === 'preElection') {
      this.becomePreCandidate();
      voteType = 'preVote';
      voteTerm = term(this.term + 1); // the term it would campaign in, not yet adopted
    } else {
      this.becomeCandidate();
      voteType = 'vote';
      voteTerm = this.term;
    }
    this.votes.set(this.id, true);
    if (this.pollResult() === 'won') {
      if (kind === 'preElection') this.campaign('election', transfer);
      else this.becomeLeader();
      return;
    }
    for (const id of this.voters()) {
      if (id === this.id) continue;
      this.send({
        type: voteType,
        to: id,
        term: voteTerm,
        index: this.log.lastIndex(),
        logTerm: this.log.lastTerm(),
        ...(transfer ? { context: transferContext } : {}),
      });
    }
  }

  private pollResult(): 'won' | 'lost' | 'pending' {
    return tallyVotes(this.voters(), this.votes);
  }

  /** Figure 2 RequestVote receiver: one vote per term, only for an up-to-date log. */
  canGrantVote(m: Message): boolean {
    const canVote =
      this.vote === m.from ||
      (this.vote === noNode && this.lead === noNode) ||
      (m.type === 'preVote' && m.term > this.term);
    return canVote && this.log.isUpToDate(m.index, m.logTerm);
  }

  private handleVoteRequest(m: Message): void {
    const respType = m.type === 'vote' ? 'voteResp' : 'preVoteResp';
    if (this.canGrantVote(m)) {
      // A pre-vote answer carries the would-be term so the pre-candidate counts it.
      this.send({ type: respType, to: m.from, term: m.term });
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, term: this.term, reject: true });
    }
  }

  // ---- step ----

  /**
   * Advance the state machine by one message. Proposals that cannot be taken
   * throw RaftError; every other outcome is reflected in the next Ready.
   */
  step(m: Message): void {
    if (!this.stepTerm(m)) return;
    switch (m.type) {
      case 'hup':
        this.hup(false);
        return;
      case 'vote':
      case 'preVote':
        this.handleVoteRequest(m);
        return;
      default:
        if (this.role === 'leader') this.stepLeader(m);
        else if (this.role === 'follower') this.stepFollower(m);
        else this.stepCandidate(m);
    }
  }

  /** Figure 2 "Rules for all servers": term comparison. Returns false if m is dropped. */
  private stepTerm(m: Message): boolean {
    if (m.term === 0 || isLocalMessage(m.type)) return true;
    if (m.term > this.term) return this.stepHigherTerm(m);
    if (m.term < this.term) {
      this.stepLowerTerm(m);
      return false;
    }
    return true;
  }

  private stepHigherTerm(m: Message): boolean {
    if (m.type === 'vote' || m.type === 'preVote') {
      const force = isTransferContext(m.context);
      const inLease = this.cfg.checkQuorum && this.lead !== noNode && this.electionElapsed < this.cfg.electionTicks;
      // Thesis §4.2.3: ignore disruptive candidates while we hear from a live leader.
      if (!force && inLease) return false;
    }
    if (m.type === 'preVote') return true; // pre-vote never changes our term
    if (m.type === 'preVoteResp' && !m.reject) return true; // counted once we campaign for real
    const fromLeader = m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap';
    this.becomeFollower(m.term, fromLeader ? m.from : noNode);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'heartbeat' || m.type === 'app')) {
      // A stale leader cut off from us: tell it the new term so it steps down
      // (without this, check-quorum plus pre-vote could leave it stuck forever).
      this.send({ type: 'appResp', to: m.from });
    } else if (m.type === 'preVote') {
      this.send({ type: 'preVoteResp', to: m.from, term: this.term, reject: true });
    }
  }

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'beat':
        this.bcastHeartbeat();
        return;
      case 'checkQuorum':
        this.checkQuorum();
        return;
      case 'prop':
        this.leaderPropose(m);
        return;
      case 'readIndex':
        this.leaderReadIndex(m);
        return;
      case 'transferLeader':
        this.leaderTransfer(m);
        return;
      default:
        this.stepLeaderFromPeer(m);
    }
  }

  private stepLeaderFromPeer(m: Message): void {
    const pr = this.prs.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case 'appResp':
        pr.recentActive = true;
        if (m.reject) this.handleAppendReject(m, pr);
        else this.handleAppendAccept(m, pr);
        return;
      case 'heartbeatResp':
        this.handleHeartbeatResp(m, pr);
        return;
      case 'snapStatus':
        if (pr.state !== 'snapshot') return;
        // Success or failure, probe next: the follower's answer tells us where it is.
        if (m.reject) pr.pendingSnapshot = index(0);
        pr.becomeProbe();
        pr.probeSent = true;
        return;
      case 'unreachable':
        if (pr.state === 'replicate') pr.becomeProbe();
        return;
      default:
        return;
    }
  }

  private checkQuorum(): void {
    let active = 0;
    const voters = this.voters();
    for (const id of voters) {
      const pr = this.prs.get(id)!;
      if (id === this.id || pr.recentActive) active++;
    }
    for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
    if (active < Math.floor(voters.length / 2) + 1) this.becomeFollower(this.term, noNode);
  }

  private handleAppendReject(m: Message, pr: Progress): void {
    let nextProbe = m.rejectHint;
    if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm)[0];
    if (pr.maybeDecrTo(m.index, nextProbe)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      this.sendAppend(m.from);
    }
  }

  private handleAppendAccept(m: Message, pr: Progress): void {
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

    if (this.maybeCommit()) this.bcastAppend();
    else if (wasPaused) this.sendAppend(m.from);
    // Pipelining: keep the window full.
    while (this.maybeSendAppend(m.from, false));
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', to: m.from });
    }
  }

  private handleHeartbeatResp(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // The follower is alive but appends may have been lost: open the window by one so the
    // next append reveals the gap (the follower rejects it and we fall back to probing).
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    if (m.context === undefined || m.context.byteLength === 0) return;
    if (!this.readOnly.recvAck(m.from, m.context, (acks) => this.isQuorum(acks))) return;
    for (const req of this.readOnly.advance(m.context)) this.respondRead(req.message, req.index);
  }

  private isQuorum(ids: ReadonlySet<string>): boolean {
    const voters = this.voters();
    let n = 0;
    for (const v of voters) if (ids.has(v)) n++;
    return n >= Math.floor(voters.length / 2) + 1;
  }

  /** Raft §5.3/§5.4.2: advance commit to the quorum's match if that entry is of our term. */
  maybeCommit(): boolean {
    const matches: LogIndex[] = [];
    for (const [, pr] of this.prs) if (!pr.isLearner) matches.push(pr.match);
    const committed = this.log.maybeCommit(quorumCommitIndex(matches), this.term);
    if (committed) this.releasePendingReads();
    return committed;
  }

  // ---- proposals ----

  private leaderPropose(m: Message): void {
    if (!this.prs.has(this.id)) throw new RaftError('PROPOSAL_DROPPED', 'leader was removed from the group');
    if (this.leadTransferee !== noNode) {
      throw new RaftError('PROPOSAL_DROPPED', 'leadership transfer in progress', { leaderHint: this.leadTransferee });
    }
    assert(m.entries.length > 0, 'empty proposal');
    for (const e of m.entries) {
      if (e.data.byteLength > this.cfg.maxEntryBytes) {
        throw new RaftError('PROPOSAL_TOO_LARGE', `entry of ${e.data.byteLength} bytes > ${this.cfg.maxEntryBytes}`);
      }
      if (e.kind === 'conf') this.checkConfChange(decodeConfChange(e.data));
    }
    this.appendEntries(m.entries);
    if (m.entries.some((e) => e.kind === 'conf')) this.pendingConfIndex = this.log.lastIndex();
    this.bcastAppend();
  }

  /** Raft thesis §4.1 guards: one change at a time, each of them meaningful. */
  private checkConfChange(cc: ConfChange): void {
    if (this.pendingConfIndex > this.log.applied) {
      throw new RaftError('CONF_CHANGE_PENDING', `conf change at ${this.pendingConfIndex} not yet applied (applied ${this.log.applied})`);
    }
    const pr = this.prs.get(cc.node);
    const invalid = (why: string): never => {
      throw new RaftError('CONF_CHANGE_INVALID', `${cc.type} ${cc.node}: ${why}`);
    };
    switch (cc.type) {
      case 'addNode':
        if (pr !== undefined && !pr.isLearner) invalid('already a voter');
        if (pr !== undefined && this.log.lastIndex() - pr.match > this.cfg.learnerCatchUpEntriesMax) {
          throw new RaftError('LEARNER_NOT_CAUGHT_UP', `learner ${cc.node} at ${pr.match}, leader at ${this.log.lastIndex()}`);
        }
        return;
      case 'addLearner':
        if (pr !== undefined) invalid(pr.isLearner ? 'already a learner' : 'demoting a voter is not supported');
        return;
      case 'removeNode':
        if (pr === undefined) invalid('not a member');
        if (!pr!.isLearner && this.voters().length === 1) invalid('cannot remove the last voter');
        return;
    }
  }

  /** Append locally as leader. Throws UNCOMMITTED_FULL past the uncommitted budget. */
  private appendEntries(es: readonly { kind: Entry['kind']; data: Uint8Array }[]): void {
    const bytes = es.reduce((n, e) => n + e.data.byteLength, 0);
    // Always admit at least one proposal when nothing is pending, or a large entry could never commit.
    if (this.uncommittedBytes > 0 && bytes > 0 && this.uncommittedBytes + bytes > this.cfg.maxUncommittedBytes) {
      throw new RaftError('UNCOMMITTED_FULL', `${this.uncommittedBytes} uncommitted bytes, limit ${this.cfg.maxUncommittedBytes}`);
    }
    this.uncommittedBytes += bytes;
    let li = this.log.lastIndex();
    const ents: Entry[] = es.map((e) => ({ term: this.term, index: (li = index(li + 1)), kind: e.kind, data: e.data }));
    this.log.append(ents);
    this.prs.get(this.id)?.maybeUpdate(this.log.lastIndex());
    this.maybeCommit();
  }

  /** The application applied these committed entries: free their uncommitted budget. */
  reduceUncommittedBytes(ents: readonly Entry[]): void {
    if (this.role !== 'leader') return;
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - entriesBytes(ents));
  }

  // ---- linearizable reads (thesis §6.4) ----

  private leaderReadIndex(m: Message): void {
    if (this.voters().length <= 1) {
      this.respondRead(m, this.log.committed);
      return;
    }
    if (!this.committedEntryInCurrentTerm()) {
      if (this.pendingReadIndexMessages.length >= this.cfg.readIndexPendingMax) {
        throw new RaftError('READS_FULL', 'too many reads waiting for the first commit of the term');
      }
      this.pendingReadIndexMessages.push(m);
      return;
    }
    const ctx = m.context ?? new Uint8Array(0);
    this.readOnly.addRequest(this.log.committed, m, ctx);
    // A heartbeat round confirms we are still leader (nobody with a higher term has a quorum).
    this.readOnly.recvAck(this.id, ctx, (acks) => this.isQuorum(acks));
    this.bcastHeartbeat(ctx);
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private releasePendingReads(): void {
    if (this.pendingReadIndexMessages.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.leaderReadIndex(m);
  }

  private respondRead(req: Message, readIndex: LogIndex): void {
    const context = req.context ?? new Uint8Array(0);
    if (req.from === noNode || req.from === this.id) {
      this.readStates.push({ index: readIndex, context });
    } else {
      this.send({ type: 'readIndexResp', to: req.from, index: readIndex, context });
    }
  }

  // ---- leadership transfer (thesis §3.10) ----

  private leaderTransfer(m: Message): void {
    const target = m.from;
    const pr = this.prs.get(target);
    if (pr === undefined || pr.isLearner || target === this.id) return;
    if (this.leadTransferee === target) return;
    this.leadTransferee = target;
    // The transfer must finish within one election timeout or it is abandoned (tick()).
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', to: target });
    else this.sendAppend(target);
  }

  // ---- follower and candidate ----

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'prop':
        if (this.lead === noNode) throw new RaftError('PROPOSAL_DROPPED', 'no leader known');
        if (this.cfg.disableProposalForwarding) {
          throw new RaftError('NOT_LEADER', 'proposal forwarding disabled', { leaderHint: this.lead });
        }
        this.send({ type: 'prop', to: this.lead, entries: m.entries });
        return;
      case 'app':
      case 'heartbeat':
      case 'snap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleFromLeader(m);
        return;
      case 'transferLeader':
        if (this.lead === noNode) return;
        // Forwarded as is: `from` names the transferee, not us.
        this.msgs.push(message({ type: 'transferLeader', from: m.from, to: this.lead }));
        return;
      case 'timeoutNow':
        // hup() refuses while a committed conf change is unapplied, which is exactly the case when a
        // leader hands off after applying its own removal: keep the request until it is applied.
        if (this.hasUnappliedConfChange()) this.pendingTimeoutNow = true;
        else this.hup(true);
        return;
      case 'readIndex':
        if (this.lead === noNode) throw new RaftError('PROPOSAL_DROPPED', 'no leader known for a read');
        this.send({ type: 'readIndex', to: this.lead, ...(m.context ? { context: m.context } : {}) });
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, context: m.context ?? new Uint8Array(0) });
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    const myResp = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'prop':
        throw new RaftError('PROPOSAL_DROPPED', 'election in progress');
      case 'readIndex':
        throw new RaftError('PROPOSAL_DROPPED', 'election in progress');
      case 'app':
      case 'heartbeat':
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleFromLeader(m);
        return;
      case 'voteResp':
      case 'preVoteResp':
        if (m.type !== myResp) return;
        this.votes.set(m.from, !m.reject);
        this.afterPoll();
        return;
      default:
        return;
    }
  }

  private afterPoll(): void {
    const res = this.pollResult();
    if (res === 'won') {
      if (this.role === 'preCandidate') this.campaign('election', false);
      else {
        this.becomeLeader();
        this.bcastAppend();
      }
    } else if (res === 'lost') {
      this.becomeFollower(this.term, noNode);
    }
  }

  private handleFromLeader(m: Message): void {
    if (m.type === 'app') this.handleAppend(m);
    else if (m.type === 'heartbeat') this.handleHeartbeat(m);
    else this.handleSnapshot(m);
  }

  /** Figure 2 AppendEntries receiver. */
  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send({ type: 'appResp', to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: 'appResp', to: m.from, index: lastNew });
      return;
    }
    const [hintIndex, hintTerm] = this.log.findConflictByTerm(index(Math.min(m.index, this.log.lastIndex())), m.logTerm);
    this.send({ type: 'appResp', to: m.from, index: m.index, reject: true, rejectHint: hintIndex, logTerm: hintTerm });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    this.send({ type: 'heartbeatResp', to: m.from, ...(m.context ? { context: m.context } : {}) });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    assert(s !== undefined, 'snap message without snapshot');
    if (this.restore(s)) this.send({ type: 'appResp', to: m.from, index: this.log.lastIndex() });
    else this.send({ type: 'appResp', to: m.from, index: this.log.committed });
  }

  /** Install a snapshot unless our log already covers it (Raft §7). */
  restore(s: Snapshot): boolean {
    if (s.meta.index <= this.log.committed) return false;
    assert(this.role === 'follower', () => `snapshot installed by a ${this.role}`);
    if (this.log.matchTerm(s.meta.index, s.meta.term)) {
      // We have the entry: fast-forward the commit instead of discarding the log.
      this.log.commitTo(s.meta.index);
      return false;
    }
    this.log.restore(s);
    this.applyConfState(s.meta.conf);
    const me = this.prs.get(this.id);
    if (me) me.match = this.log.lastIndex();
    return true;
  }

  // ---- membership ----

  /** Apply a committed conf change. Deterministic, and idempotent so restarts may replay it. */
  applyConfChange(cc: ConfChange): ConfState {
    const pr = this.prs.get(cc.node);
    switch (cc.type) {
      case 'addNode':
        if (pr === undefined) {
          const fresh = this.newProgress(false);
          fresh.recentActive = true; // a new member gets a grace period before check-quorum counts it
          this.prs.set(cc.node, fresh);
        } else if (pr.isLearner) pr.isLearner = false;
        break;
      case 'addLearner':
        if (pr === undefined) {
          const fresh = this.newProgress(true);
          fresh.recentActive = true;
          this.prs.set(cc.node, fresh);
        }
        break;
      case 'removeNode':
        if (pr !== undefined && !(this.voters().length === 1 && !pr.isLearner)) this.prs.delete(cc.node);
        break;
    }
    this.afterConfChange(cc);
    return this.confState();
  }

  private afterConfChange(cc: ConfChange): void {
    if (this.role !== 'leader') return;
    if (cc.type === 'removeNode' && cc.node === this.leadTransferee) this.leadTransferee = noNode;
    if (!this.prs.has(this.id)) {
      // We removed ourselves: hand leadership to the most up-to-date voter, then stand down.
      this.handOffAfterRemoval();
      return;
    }
    if (this.maybeCommit()) this.bcastAppend();
    else for (const id of this.prs.keys()) if (id !== this.id) this.maybeSendAppend(id, false);
  }

  private handOffAfterRemoval(): void {
    let best: NodeId = noNode;
    let bestMatch = -1;
    for (const [id, pr] of this.prs) {
      if (!pr.isLearner && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best !== noNode && bestMatch === this.log.lastIndex()) this.send({ type: 'timeoutNow', to: best });
    this.becomeFollower(this.term, noNode);
  }

  // ---- time ----

  tick(): void {
    if (this.role === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.pendingTimeoutNow && !this.hasUnappliedConfChange()) {
      this.pendingTimeoutNow = false;
      this.hup(true);
      return;
    }
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(message({ type: 'hup', from: this.id }));
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.step(message({ type: 'checkQuorum', from: this.id }));
      if (this.role === 'leader' && this.leadTransferee !== noNode) this.leadTransferee = noNode; // transfer timed out
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(message({ type: 'beat', from: this.id }));
    }
  }
}
