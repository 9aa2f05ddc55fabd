// Raft value types: terms, indexes, entries, messages, hard state, snapshots.
// Plain data only: nothing here does I/O or holds behaviour beyond tiny constructors.

/** A Raft term (Raft §5.1). Monotonic per node, persisted in HardState. */
export type Term = number & { readonly __brand: 'Term' };
/** A position in the replicated log, 1-based; 0 means "before the first entry". */
export type LogIndex = number & { readonly __brand: 'LogIndex' };
/** A node's stable identity inside one Raft group. Never reused after removal. */
export type NodeId = string & { readonly __brand: 'NodeId' };

export const term = (n: number): Term => n as Term;
export const index = (n: number): LogIndex => n as LogIndex;
export const nodeId = (s: string): NodeId => s as NodeId;

/** No node; used for an empty vote or an unknown leader. */
export const noNode = '' as NodeId;

/**
 * normal: application data (an empty `data` is the leader's no-op, Raft §8).
 * conf:   a membership change, `data` is an encoded ConfChange.
 */
export type EntryKind = 'normal' | 'conf';

export interface Entry {
  readonly term: Term;
  readonly index: LogIndex;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** The state Figure 2 requires on stable storage before answering any RPC. */
export interface HardState {
  readonly term: Term;
  readonly vote: NodeId;
  readonly commit: LogIndex;
}

export const emptyHardState: HardState = { term: term(0), vote: noNode, commit: index(0) };

export function isHardStateEqual(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** Group membership. Voters form quorums; learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

/**
 * One membership step (Raft thesis §4.1: one server at a time).
 * addNode on an existing learner promotes it; addLearner on a voter demotes it.
 */
export interface ConfChange {
  readonly type: 'addNode' | 'addLearner' | 'removeNode';
  readonly node: NodeId;
}

export interface SnapshotMeta {
  readonly index: LogIndex;
  readonly term: Term;
  readonly conf: ConfState;
}

/** A state machine image covering every entry up to and including meta.index. */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

export const emptySnapshot: Snapshot = {
  meta: { index: index(0), term: term(0), conf: { voters: [], learners: [] } },
  data: new Uint8Array(0),
};

export function isEmptySnapshot(s: Snapshot | undefined): boolean {
  return s === undefined || s.meta.index === 0;
}

/**
 * Message types. Local ones (hup, beat, prop on the leader, readIndex,
 * transferLeader, unreachable, snapStatus) enter through the same step()
 * as network ones, as in etcd/raft.
 */
export type MessageType =
  | 'hup' // local: election timeout elapsed, start a (pre-)election
  | 'beat' // local: heartbeat timeout elapsed on the leader
  | 'checkQuorum' // local: the leader checks it still hears from a quorum
  | 'prop' // proposal: local, or forwarded by a follower to the leader
  | 'app' // AppendEntries (Raft §5.3)
  | 'appResp'
  | 'vote' // RequestVote (Raft §5.2)
  | 'voteResp'
  | 'preVote' // pre-vote (Raft thesis §9.6)
  | 'preVoteResp'
  | 'snap' // InstallSnapshot (Raft §7)
  | 'heartbeat'
  | 'heartbeatResp'
  | 'unreachable' // local: the transport could not reach `from`
  | 'snapStatus' // local: the transport finished (or failed) sending a snapshot to `from`
  | 'transferLeader' // leadership transfer request (thesis §3.10)
  | 'timeoutNow' // leader -> transferee: campaign now
  | 'readIndex' // linearizable read request (thesis §6.4)
  | 'readIndexResp';

export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  /** Sender's term; 0 for local messages. */
  readonly term: Term;
  /** app: term of the entry at `index`; vote: term of the candidate's last entry. */
  readonly logTerm: Term;
  /** app: index preceding `entries`; appResp: the follower's last matching index. */
  readonly index: LogIndex;
  readonly entries: readonly Entry[];
  readonly commit: LogIndex;
  readonly reject: boolean;
  /** appResp on reject: a hint for the leader's fast back-off (thesis §5.3 optimization). */
  readonly rejectHint: LogIndex;
  readonly snapshot?: Snapshot;
  /** readIndex/heartbeat: opaque request context; vote: "transfer" forces past the lease. */
  readonly context?: Uint8Array;
}

/** Build a message with every field defaulted; callers set what they use. */
export function message(m: Partial<Message> & Pick<Message, 'type'>): Message {
  return {
    from: noNode,
    to: noNode,
    term: term(0),
    logTerm: term(0),
    index: index(0),
    entries: [],
    commit: index(0),
    reject: false,
    rejectHint: index(0),
    ...m,
  };
}

/** Sum of entry payload sizes, the unit of every byte limit in the core. */
export function entriesBytes(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += e.data.byteLength;
  return n;
}

export function isLocalMessage(t: MessageType): boolean {
  return t === 'hup' || t === 'beat' || t === 'checkQuorum' || t === 'unreachable' || t === 'snapStatus';
}

export function isResponseMessage(t: MessageType): boolean {
  return (
    t === 'appResp' || t === 'voteResp' || t === 'preVoteResp' || t === 'heartbeatResp' || t === 'readIndexResp'
  );
}
