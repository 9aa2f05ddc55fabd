// Every bound of the cluster subsystem (transport, join exchange, identity), with units in the names.
// Values only: no code that enforces them lives here.

/** Largest Raft frame body sent or accepted (snapshots travel whole). A peer announcing more is disconnected. */
export const raftFrameBytesMax = 64 << 20;
/**
 * Largest RPC frame body (one request or one answer) sent or accepted. Blob bodies travel in RPC
 * bodies: a whole message at the default 50 MiB maximum, plus MessagePack framing, fits; chunked
 * copies of 4 MiB fit many times over.
 */
export const rpcFrameBytesMax = 64 << 20;
/** Raft messages queued for one peer (connecting or socket backed up). Past it the oldest is dropped. */
export const raftSendQueueMessagesMax = 10_000;
/** Encoded Raft bytes queued for one peer, same policy. */
export const raftSendQueueBytesMax = 128 << 20;
/** RPC requests waiting for an answer from one peer at once; more are refused at once (UNREACHABLE). */
export const rpcInflightRequestsMax = 1_024;
/** Encoded RPC bytes queued on one peer's connection (not yet handed to the kernel); past it requests are refused. */
export const rpcSendQueueBytesMax = 256 << 20;
/** Requests one inbound RPC connection may have in its handlers at once; more are answered BUSY. */
export const rpcServingRequestsMax = 256;
/** Deadline of an RPC when the caller gives none. */
export const rpcTimeoutMsDefault = 30_000;
/** Longest service name accepted. */
export const rpcServiceBytesMax = 128;
/** Inbound connections held at once (all purposes); more are closed on accept. */
export const inboundConnectionsMax = 256;
/** First delay before reconnecting to a peer; doubles per failure. */
export const reconnectDelayMsMin = 20;
/** Longest delay between reconnect attempts. */
export const reconnectDelayMsMax = 1_000;
/** An outbound connect (TCP + TLS handshake + hello) that takes longer is abandoned. */
export const connectTimeoutMs = 3_000;
/** An inbound connection that does not complete TLS and introduce itself within this is closed. */
export const helloTimeoutMs = 5_000;

/** Validity of the cluster CA's certificate. */
export const caValidityDays = 20 * 365;
/** Validity of a node certificate. */
export const nodeCertValidityDays = 5 * 365;
/** Clock skew tolerated between nodes: certificates start this long before they are made. */
export const certBackdateMs = 10 * 60 * 1000;

/** Lifetime of a join token when the issuer gives none. */
export const joinTokenTtlMsDefault = 60 * 60 * 1000;
/** Longest lifetime a join token may be given. */
export const joinTokenTtlMsMax = 7 * 24 * 60 * 60 * 1000;
/** Unused join tokens held by one node; issuing more fails until some expire or are used. */
export const joinTokensMax = 64;
/** Largest frame of the join exchange (a CSR in, certificates and the member list out). */
export const joinFrameBytesMax = 64 * 1024;
/** Join connections held at once. */
export const joinConnectionsMax = 8;
/** A join exchange that takes longer is dropped (both sides). */
export const joinTimeoutMs = 15_000;

/** How often a node reconciles the transport's members with the Raft membership (and fetches missing addresses). */
export const membershipSyncIntervalMs = 1_000;
/** A peer just admitted is not pruned for this long, even before its conf change is applied here. */
export const admittedGraceMs = 60_000;
/** Deadline of the small cluster RPCs (addresses, announcements, status fan-out). */
export const clusterRpcTimeoutMs = 2_000;
/** Peers in one node's address book. */
export const addressBookEntriesMax = 1_024;
/**
 * Bytes of one RPC connection handed to TLS per event-loop turn. node:tls encrypts a write
 * synchronously, so a 48 MiB body written at once would stall every timer (Raft ticks, heartbeats)
 * for the whole encryption; slices keep each stall to a fraction of a millisecond.
 */
export const rpcWriteSliceBytes = 256 * 1024;
/** Refused inbound handshakes are logged at most once per this interval (with a count). */
export const refusalLogIntervalMs = 10_000;
