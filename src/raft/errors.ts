// Typed errors of the Raft subsystem: stable codes, optional cause.
// Operating conditions only; programmer errors are assertions (assert.ts).

export type RaftErrorCode =
  | 'PROPOSAL_DROPPED' // no leader known, or forwarding disabled, or a transfer is in progress
  | 'NOT_LEADER' // the operation needs the leader; `leaderHint` says where to go
  | 'UNCOMMITTED_FULL' // the leader's uncommitted-bytes budget is spent: retry later
  | 'PROPOSAL_TOO_LARGE' // one proposal exceeds the per-entry byte limit
  | 'CONF_CHANGE_PENDING' // a membership change is still unapplied (thesis §4.1)
  | 'CONF_CHANGE_INVALID' // the change makes no sense for the current membership
  | 'LEARNER_NOT_CAUGHT_UP' // promotion refused until the learner has the log
  | 'READS_FULL' // too many ReadIndex requests waiting
  | 'PROPOSALS_FULL' // the driver holds its maximum of unapplied proposals: retry later
  | 'TIMEOUT' // not applied (or read not confirmed) in time; outcome unknown, retry with the same request id
  | 'COMPACTED' // the requested index was compacted away
  | 'UNAVAILABLE' // the entry or snapshot is not available (yet)
  | 'SNAPSHOT_OUT_OF_DATE' // a snapshot older than the one already stored
  | 'STORAGE' // the durable store failed
  | 'CONFIG_INVALID' // a configuration field is out of range
  | 'STOPPED'; // the node is shut down

export class RaftError extends Error {
  readonly code: RaftErrorCode;
  /** Where the current leader is believed to be, when known (redirect hint). */
  readonly leaderHint: string | undefined;

  constructor(code: RaftErrorCode, message: string, opts: { cause?: unknown; leaderHint?: string } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RaftError';
    this.code = code;
    this.leaderHint = opts.leaderHint;
  }
}

export function isRaftError(e: unknown, code?: RaftErrorCode): e is RaftError {
  return e instanceof RaftError && (code === undefined || e.code === code);
}
