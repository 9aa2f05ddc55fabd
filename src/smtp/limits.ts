// Every limit of the SMTP front end, with its unit in the name, its default and the reason for it.
// Values only: enforcement lives in the handlers; config.ts lets an operator override each one.

export interface SmtpLimits {
  /**
   * Largest message accepted, counted on the data as received (after dot-unstuffing,
   * before our Return-Path/Received headers). Advertised as `SIZE` (RFC 1870) and
   * enforced twice: at MAIL FROM against a declared `SIZE=` and while DATA streams in.
   * Default 25 MiB, what the large providers accept. The message is held in memory
   * until it is durable, so this times `connectionsMax` bounds memory (see below).
   */
  messageBytesMax: number;
  /**
   * Bytes of message data held in memory at once by all connections of one front end
   * (all three listeners). A DATA that would go past it is drained and refused with
   * `452 4.3.1`: the sender retries later, nothing grows without bound. Default 512 MiB.
   */
  bufferedMessageBytesMax: number;
  /**
   * Recipients in one transaction. RFC 5321 §4.5.3.1.8 requires at least 100; Postfix
   * defaults to 1000 (`smtpd_recipient_limit`). Past it: `452 4.5.3` (RFC 5321 §4.5.3.1.10).
   */
  recipientsPerMessageMax: number;
  /**
   * Octets in one command line, CRLF excluded. RFC 5321 §4.5.3.1.4 sets 512 for plain
   * commands, RFC 4954 §4 raises it to 12288 for AUTH, and one parser serves both.
   * Past it the connection is closed with `421 4.7.0`: the parser cannot resynchronise.
   */
  commandLineBytesMax: number;
  /**
   * Octets in one line of message data, line ending excluded. RFC 5322 §2.1.1 says 998,
   * but real senders (HTML generators, old MUAs) exceed it and Postfix accepts them, so
   * the default is generous: 64 KiB. Past it the message is refused with `554 5.6.0`.
   */
  dataLineBytesMax: number;
  /**
   * Simultaneous connections to one listener from one client address (the PROXY
   * protocol address when it is used). Postfix's `smtpd_client_connection_count_limit`
   * is 50. Past it: `421 4.7.0` at connect.
   */
  connectionsPerIpMax: number;
  /** Simultaneous connections to one listener from everyone. Past it: `421`. Default 1000. */
  connectionsMax: number;
  /**
   * Unrecognized (or disabled) commands on one connection before it is closed with
   * `421 4.7.0`. Default 10, as smtp-server; Postfix counts all errors up to 20.
   */
  unrecognizedCommandsMax: number;
  /**
   * Pause before the 220 greeting. smtp-server waits a fixed 100 ms (to spot clients that
   * talk before the greeting), which caps one-message-per-connection senders at 10 messages
   * a second per connection. Default 0: greet at once, as Postfix's smtpd does; a pause to
   * catch early talkers belongs to the washer's MX policy (postscreen's greet test).
   */
  greetingDelayMs: number;
  /**
   * Commands a submission client may send before it authenticates (EHLO, STARTTLS, each
   * line of an AUTH exchange) before `421`. Default 10. Does not apply to the MX.
   */
  unauthenticatedCommandsMax: number;
  /** Delay before answering a failed AUTH: slows password guessing. Default 2000 ms (Dovecot's auth_failure_delay). */
  authFailureDelayMs: number;
  /**
   * Failed AUTH attempts from one address within `authFailureWindowMs` after which every
   * AUTH from it is refused with `421 4.7.0` without checking the password. Default 10.
   */
  authFailuresPerIpMax: number;
  /** Sliding window for `authFailuresPerIpMax`. Default 10 minutes. */
  authFailureWindowMs: number;
  /** Addresses whose auth failures are remembered; the oldest is forgotten past it. Default 100 000. */
  authFailureTrackedIpsMax: number;
  /**
   * Idle time before a client is disconnected with `421`. RFC 5321 §4.5.3.2.7 asks a
   * server to wait at least 5 minutes. Default 300 000 ms. Not counted while the client
   * waits for us (a backend call in progress).
   */
  socketIdleMs: number;
  /**
   * How long a directory call (isLocalDomain, resolveRecipient, authenticate,
   * senderAllowed) may take before the client gets a temporary failure (451 4.3.0, or
   * 454 4.7.0 for AUTH). Default 30 000 ms.
   */
  backendCallTimeoutMs: number;
  /**
   * How long `deliver` may take before the client gets `451 4.3.0`. Below the 10 minutes a
   * client waits after the final dot (RFC 5321 §4.5.3.2.6), so the client hears a
   * temporary failure and retries; if the backend commits after all, the retry makes a
   * duplicate, which is acceptable, and nothing is lost. Default 300 000 ms.
   */
  deliverTimeoutMs: number;
  /** How long stop() waits for open sessions before it sends `421` and closes them. Default 30 000 ms. */
  closeTimeoutMs: number;
}

export const defaultSmtpLimits: Readonly<SmtpLimits> = Object.freeze({
  messageBytesMax: 25 * 1024 * 1024,
  bufferedMessageBytesMax: 512 * 1024 * 1024,
  recipientsPerMessageMax: 1000,
  commandLineBytesMax: 12_288,
  dataLineBytesMax: 64 * 1024,
  connectionsPerIpMax: 50,
  connectionsMax: 1000,
  unrecognizedCommandsMax: 10,
  greetingDelayMs: 0,
  unauthenticatedCommandsMax: 10,
  authFailureDelayMs: 2000,
  authFailuresPerIpMax: 10,
  authFailureWindowMs: 10 * 60 * 1000,
  authFailureTrackedIpsMax: 100_000,
  socketIdleMs: 5 * 60 * 1000,
  backendCallTimeoutMs: 30_000,
  deliverTimeoutMs: 5 * 60 * 1000,
  closeTimeoutMs: 30_000,
});

/** Time a trusted balancer has to send its PROXY header before the connection is closed. */
export const smtpProxyHeaderTimeoutMs = 5_000;
