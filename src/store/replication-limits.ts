// Limits of the replicated store across nodes (state transfer, retries, readiness), units in the names.
// Plain data only; the single-node limits stay in limits.ts.

export const replicationLimits = {
  /** Key/value bytes in one state-transfer chunk (at least one record is always sent). */
  snapshotChunkBytesMax: 1 << 20,
  /** Records in one state-transfer chunk. */
  snapshotChunkRecordsMax: 10_000,
  /** Point-in-time images a node keeps open for followers fetching them; the least recently used goes first. */
  snapshotImagesKeptMax: 2,
  /** An image nobody asked for during this long is released (it pins old LevelDB versions). */
  snapshotImageIdleMs: 30_000,
  /** One state-transfer request (open or one chunk) to a peer. */
  snapshotRequestTimeoutMs: 15_000,
  /** Pause before trying the next source after a failed transfer; doubles up to the max. */
  snapshotRetryDelayMsMin: 100,
  snapshotRetryDelayMsMax: 2_000,
  /** Overall time execute() keeps retrying NOT_LEADER / PROPOSAL_DROPPED / TIMEOUT before UNAVAILABLE. */
  executeDeadlineMs: 5_000,
  /** A single proposal attempt: past it the same request id is proposed again (deduplicated at apply). */
  proposalAttemptMs: 1_500,
  /** Pause between retries of a refused proposal; doubles up to the max. */
  retryDelayMsMin: 20,
  retryDelayMsMax: 300,
  /** Overall time readBarrier() keeps retrying before UNAVAILABLE. */
  readDeadlineMs: 5_000,
  /** Readiness: a ReadIndex probe runs this often. */
  readyProbeIntervalMs: 250,
  /** Readiness: the last successful probe must be this recent. */
  readyProbeFreshMs: 2_000,
  /** Readiness: at most this many committed entries not yet applied. */
  readyLagEntriesMax: 1_000,
  /** How often the leader looks for learners to promote. */
  promoteIntervalMs: 200,
  /** Learners are promoted while the group has fewer voters than this (thesis §4: odd sizes, 3 or 5). */
  votersMax: 5,
  /** Overall time addMember() / removeMember() keep retrying (no leader, a change pending) before UNAVAILABLE. */
  membershipDeadlineMs: 10_000,
  /** One membership or status request to a peer. */
  peerRequestTimeoutMs: 2_000,
} as const;
