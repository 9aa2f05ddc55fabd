// Every bound of the gossip of soft state (libp2p gossipsub between members), with units in the names.
// Values only: gossip.ts and gossip-state.ts enforce them.

/** The one gossipsub topic members publish their soft state on (versioned: a new format gets a new topic). */
export const gossipTopic = 'stormo/soft-state/1';
/** Time between two publications of this node's soft state. */
export const gossipIntervalMs = 1_000;
/** A member unheard for this many intervals is reported dead (also one never heard this long after start). */
export const gossipDeadAfterIntervals = 5;
/** Largest soft-state message sent or accepted (gossipsub drops larger data before decoding). */
export const gossipMessageBytesMax = 8 * 1024;
/** Blob repair hints carried by one message; more wait for the next ones. */
export const gossipHintsPerMessageMax = 64;
/** Hints waiting to be published; past it new ones are dropped (the repair sweep finds them anyway). */
export const gossipHintsQueuedMax = 4_096;
/** Messages a hint is repeated in (gossip is lossy; a receiver applies each hint once per gossipHintSeenMs). */
export const gossipHintRepeats = 3;
/** A received hint is not applied again within this time. */
export const gossipHintSeenMs = 60_000;
/** Received hint ids remembered for de-duplication; the oldest are forgotten past it. */
export const gossipHintsSeenMax = 16_384;
/** Members one node gossips with (the address book's bound is higher; gossip is for a handful of nodes). */
export const gossipPeersMax = 64;
/** Longest node id, Raft role and protocol name accepted in a message. */
export const gossipNameBytesMax = 64;
/** Protocols reported with a connection count in one message. */
export const gossipProtocolsMax = 16;
/** Time between two refreshes of the members' gossip addresses (asked over mutual TLS) and dials. */
export const gossipDirectoryRefreshMs = 2_000;
/** Deadline of the mutual-TLS request that asks a member for its gossip peer id and port. */
export const gossipHelloTimeoutMs = 3_000;
