// Configuration of one Raft node: every field documented with its unit, default and trade-off.
// validate() is the one place that rejects impossible combinations.

import { RaftError } from './errors.ts';
import type { Random } from './random.ts';
import type { Storage } from './storage.ts';
import type { LogIndex, NodeId } from './types.ts';
import { index } from './types.ts';

export interface RaftConfig {
  /** This node's id; must not be empty. */
  id: NodeId;
  /** Read access to persisted state; the driver writes it. */
  storage: Storage;
  /** Seeded source for randomized election timeouts. */
  random: Random;
  /**
   * Last index applied to the state machine before a restart (0 for a fresh
   * state machine). Entries up to here are not handed out again.
   */
  applied?: LogIndex;
  /**
   * Ticks without hearing from a leader before a follower campaigns (Raft §5.2).
   * The actual timeout is randomized in [electionTicks, 2*electionTicks).
   * Default 10. Must be > heartbeatTicks. Lower fails over faster but risks
   * spurious elections under load.
   */
  electionTicks?: number;
  /** Ticks between leader heartbeats. Default 1. */
  heartbeatTicks?: number;
  /** Pre-vote (thesis §9.6): a partitioned node cannot disrupt a healthy leader. Default true. */
  preVote?: boolean;
  /** Check-quorum: a leader that has not heard from a quorum for an election timeout steps down. Default true. */
  checkQuorum?: boolean;
  /** Payload bytes in one AppendEntries (at least one entry is always sent). Default 1 MiB. */
  maxSizePerMsgBytes?: number;
  /** AppendEntries in flight to one follower in replicate state (pipelining window). Default 256. */
  maxInflightMsgs?: number;
  /** Payload bytes in flight to one follower; 0 = no byte limit. Default 32 MiB. */
  maxInflightBytes?: number;
  /**
   * Payload bytes of entries the leader holds uncommitted. Proposals past it
   * are refused with UNCOMMITTED_FULL (back-pressure), never queued. Default 64 MiB.
   */
  maxUncommittedBytes?: number;
  /** One proposal's payload bytes. Default 8 MiB. */
  maxEntryBytes?: number;
  /** Committed entry bytes handed to the application per Ready. Default 64 MiB. */
  maxCommittedBytesPerReady?: number;
  /** ReadIndex requests waiting for confirmation at once. Default 4096. */
  readIndexPendingMax?: number;
  /** Refuse proposals on followers instead of forwarding them to the leader. Default false. */
  disableProposalForwarding?: boolean;
  /** A learner is promoted only when at most this many entries behind the leader. Default 64. */
  learnerCatchUpEntriesMax?: number;
}

export type ResolvedRaftConfig = Required<RaftConfig>;

export function validateConfig(c: RaftConfig): ResolvedRaftConfig {
  const r: ResolvedRaftConfig = {
    applied: index(0),
    electionTicks: 10,
    heartbeatTicks: 1,
    preVote: true,
    checkQuorum: true,
    maxSizePerMsgBytes: 1 << 20,
    maxInflightMsgs: 256,
    maxInflightBytes: 32 << 20,
    maxUncommittedBytes: 64 << 20,
    maxEntryBytes: 8 << 20,
    maxCommittedBytesPerReady: 64 << 20,
    readIndexPendingMax: 4096,
    disableProposalForwarding: false,
    learnerCatchUpEntriesMax: 64,
    ...c,
  };
  const fail = (field: string, why: string): never => {
    throw new RaftError('CONFIG_INVALID', `raft config: ${field} ${why}`);
  };
  if (r.id === '') fail('id', 'must not be empty');
  if (!Number.isInteger(r.heartbeatTicks) || r.heartbeatTicks < 1) fail('heartbeatTicks', 'must be an integer >= 1');
  if (!Number.isInteger(r.electionTicks) || r.electionTicks <= r.heartbeatTicks) {
    fail('electionTicks', 'must be an integer greater than heartbeatTicks');
  }
  if (r.maxInflightMsgs < 1) fail('maxInflightMsgs', 'must be >= 1');
  if (r.maxInflightBytes < 0) fail('maxInflightBytes', 'must be >= 0');
  if (r.maxInflightBytes > 0 && r.maxInflightBytes < r.maxSizePerMsgBytes) {
    fail('maxInflightBytes', 'must be 0 or >= maxSizePerMsgBytes');
  }
  if (r.maxSizePerMsgBytes < 1) fail('maxSizePerMsgBytes', 'must be >= 1');
  if (r.maxEntryBytes < 1) fail('maxEntryBytes', 'must be >= 1');
  if (r.maxUncommittedBytes < r.maxEntryBytes) fail('maxUncommittedBytes', 'must be >= maxEntryBytes');
  if (r.readIndexPendingMax < 1) fail('readIndexPendingMax', 'must be >= 1');
  if (r.applied < 0) fail('applied', 'must be >= 0');
  return r;
}
