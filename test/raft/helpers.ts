// Builders for unit tests of the bare Raft state machine: a Raft on a MemoryStorage, messages and logs from plain numbers.
// Test-only wiring; it must not hide behaviour under test (no retries, no hidden ticks).

import {
  type Entry,
  type EntryKind,
  type HardState,
  MemoryStorage,
  type Message,
  type MessageType,
  type NodeId,
  Raft,
  type RaftConfig,
  type Snapshot,
  index,
  message,
  noNode,
  seededRandom,
  term,
} from '../../src/raft/index.ts';
import { ids } from './network.ts';

export const [n1, n2, n3, n4, n5] = ids(1, 2, 3, 4, 5) as [NodeId, NodeId, NodeId, NodeId, NodeId];

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

export const bytes = (s: string): Uint8Array => utf8.encode(s);
export const text = (b: Uint8Array): string => fromUtf8.decode(b);

/** One entry; `data` defaults to empty (a leader's no-op). */
export function entry(i: number, t: number, data = '', kind: EntryKind = 'normal'): Entry {
  return { index: index(i), term: term(t), kind, data: bytes(data) };
}

/** Entries at indexes from, from+1, ... with the given terms. */
export function entriesAt(from: number, ...terms: number[]): Entry[] {
  return terms.map((t, k) => entry(from + k, t, `e${from + k}`));
}

/** A MemoryStorage holding entries 1.. with the given terms, a hard state and a membership. */
export function storageWith(
  terms: readonly number[],
  opts: { voters?: NodeId[]; learners?: NodeId[]; hardState?: { term: number; vote?: NodeId; commit?: number } } = {},
): MemoryStorage {
  const s = new MemoryStorage({ voters: opts.voters ?? [n1, n2, n3], learners: opts.learners ?? [] });
  s.append(entriesAt(1, ...terms));
  if (opts.hardState) {
    const hs: HardState = {
      term: term(opts.hardState.term),
      vote: opts.hardState.vote ?? noNode,
      commit: index(opts.hardState.commit ?? 0),
    };
    s.setHardState(hs);
  }
  return s;
}

export interface TestRaftOptions extends Partial<Omit<RaftConfig, 'id'>> {
  voters?: NodeId[];
  learners?: NodeId[];
  seed?: number;
}

/** A Raft with electionTicks 10 and heartbeatTicks 1 over `storage` or a fresh MemoryStorage. */
export function newRaft(id: NodeId, opts: TestRaftOptions = {}): Raft {
  const { voters, learners, seed, ...rest } = opts;
  const storage = rest.storage ?? new MemoryStorage({ voters: voters ?? [n1, n2, n3], learners: learners ?? [] });
  return new Raft({
    electionTicks: 10,
    heartbeatTicks: 1,
    random: seededRandom(seed ?? 7),
    ...rest,
    id,
    storage,
  });
}

/** Messages the Raft produced since the last call, in order. */
export function take(r: Raft): Message[] {
  const out = r.msgs;
  r.msgs = [];
  return out;
}

export interface MsgSpec {
  type: MessageType;
  from?: NodeId;
  to?: NodeId;
  term?: number;
  logTerm?: number;
  index?: number;
  commit?: number;
  entries?: Entry[];
  reject?: boolean;
  rejectHint?: number;
  snapshot?: Snapshot;
  context?: Uint8Array;
}

/** A message from plain numbers. */
export function msg(s: MsgSpec): Message {
  return message({
    type: s.type,
    from: s.from ?? noNode,
    to: s.to ?? noNode,
    term: term(s.term ?? 0),
    logTerm: term(s.logTerm ?? 0),
    index: index(s.index ?? 0),
    commit: index(s.commit ?? 0),
    entries: s.entries ?? [],
    reject: s.reject ?? false,
    rejectHint: index(s.rejectHint ?? 0),
    ...(s.snapshot ? { snapshot: s.snapshot } : {}),
    ...(s.context ? { context: s.context } : {}),
  });
}

/** Make `r` leader of term+1 without an election (etcd's becomeCandidate; becomeLeader), clearing its outbox. */
export function forceLeader(r: Raft): Raft {
  r.becomeCandidate();
  r.becomeLeader();
  take(r);
  return r;
}

/** Acknowledge everything the leader has from each follower, so its no-op and proposals commit. */
export function ackAll(r: Raft, from: readonly NodeId[]): void {
  for (const f of from) r.step(msg({ type: 'appResp', from: f, to: r.id, term: r.term, index: r.log.lastIndex() }));
}

/** Propose one entry of application data on a bare Raft. */
export function propose(r: Raft, data: string): void {
  r.step(message({ type: 'prop', from: r.id, entries: [{ kind: 'normal', data: bytes(data) } as Entry] }));
}

/**
 * What a driver does between two Readys, on a bare Raft: persist the unstable
 * entries into `s`, then hand out and mark applied the committed entries.
 */
export function persistAndApply(r: Raft, s: MemoryStorage): Entry[] {
  const unstable = r.log.unstableEntries().slice();
  s.append(unstable);
  const last = unstable[unstable.length - 1];
  if (last) r.log.stableTo(last.index, last.term);
  s.setHardState(r.hardState());
  const committed = r.log.nextCommittedEntries(Number.MAX_SAFE_INTEGER);
  const lastCommitted = committed[committed.length - 1];
  if (lastCommitted) {
    r.log.appliedTo(lastCommitted.index);
    r.reduceUncommittedBytes(committed);
  }
  return committed;
}

/** Index/term pairs of a log, the shape most assertions compare. */
export function logShape(ents: readonly Entry[]): [number, number][] {
  return ents.map((e) => [e.index, e.term]);
}

/** Every entry of a Raft's log (storage and unstable), from its first index. */
export function allEntries(r: Raft): Entry[] {
  return r.log.slice(r.log.firstIndex(), index(r.log.lastIndex() + 1), Number.MAX_SAFE_INTEGER);
}
