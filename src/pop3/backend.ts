// The contract between the POP3 front end and the mail store: authenticate, snapshot INBOX, delete at QUIT.
// Types and the store's error class only: no sockets and no store imports; the store implements this.

/** Facts about the connection, for the store's policy, rate limits and logs. */
export interface SessionContext {
  /** Connection id, as in the POP3 server's logs. */
  readonly cid: string;
  /** The client's address: from the PROXY header when the server requires one, else the socket's peer. */
  readonly clientIp: string;
  /** True when TLS protects the session (implicit TLS, or after STLS). */
  readonly secure: boolean;
  /** How the client authenticates: RFC 1939 USER/PASS, or SASL PLAIN (RFC 5034, RFC 4616). */
  readonly mechanism: 'USER' | 'PLAIN';
}

/** The authenticated account, as the store names it. Every maildrop operation is keyed by it (DESIGN principle 6). */
export interface AccountHandle {
  readonly accountId: string;
}

/**
 * Why the store refused a login. Each maps to one reply:
 * - CREDENTIALS: unknown user or wrong password (not said which). `-ERR [AUTH]`; counts toward the per-address failure limit.
 * - DISABLED: the password was right but the account may not log in (suspended, expired, policy). `-ERR [AUTH]`.
 *   Return it only after checking the password, or it tells a guesser that the account exists.
 * - LOGIN_DELAY: the account logged in too recently (RFC 2449 §8.1). `-ERR [LOGIN-DELAY]`.
 * - IN_USE: the account's maildrop is locked elsewhere and concurrent sessions are not allowed (RFC 2449 §8.1). `-ERR [IN-USE]`.
 * - TEMPORARY: the store cannot decide now (no quorum, leader election, directory unreachable). `-ERR [SYS/TEMP]`.
 * - PERMANENT: a fault that needs an operator (RFC 3206 §4). `-ERR [SYS/PERM]`.
 */
export type AuthRefusal = 'CREDENTIALS' | 'DISABLED' | 'LOGIN_DELAY' | 'IN_USE' | 'TEMPORARY' | 'PERMANENT';

export type AuthResult = { readonly ok: true; readonly account: AccountHandle } | { readonly ok: false; readonly refusal: AuthRefusal };

/** One message of the snapshot. */
export interface MaildropMessage {
  /** RFC 1939 §7: 1 to 70 characters in 0x21..0x7E, unique in the maildrop, never reused for another message of the account. */
  readonly uidl: string;
  /** Exact size in octets of what read() yields (CRLF line ends, before dot-stuffing): LIST, STAT and RETR announce it. */
  readonly size: number;
}

/**
 * The account's INBOX as it was when the session authenticated (RFC 1939 §4: the maildrop is locked for the
 * session). Concurrent sessions on one account are allowed, so the store gives each its own stable snapshot
 * instead of a lock: messages that arrive later are not in it; messages another session deletes stay readable
 * or read() fails (the server then answers `-ERR [SYS/TEMP]`).
 *
 * The server calls, in this order: messages() any number of times; read() any number of times, never two at
 * once; at most one commit(); close() exactly once, also after a failed commit and when the connection drops.
 */
export interface Maildrop {
  /** The snapshot; message-number n (RFC 1939) is messages()[n - 1]. Same contents on every call. */
  messages(): readonly MaildropMessage[];
  /**
   * The raw RFC 5322 bytes of messages()[index] (0-based), with CRLF line ends, exactly `size` octets. The server
   * may stop iterating early (TOP) and calls the iterator's return() then. An error before the first chunk
   * becomes `-ERR [SYS/TEMP]`; an error later closes the connection (the client saw part of a response).
   */
  read(index: number): AsyncIterable<Uint8Array>;
  /**
   * RFC 1939 §6 UPDATE: remove these messages (by uidl), all or none, durably (committed through Raft) before
   * resolving. A uidl already gone (another session deleted it) is not an error. Called only at QUIT, only when at
   * least one message is marked. Rejecting means nothing was removed: the client gets `-ERR [SYS/TEMP] some deleted
   * messages not removed` and may retry in a new session. Never called for a dropped connection.
   */
  commit(deletedUidls: readonly string[]): Promise<void>;
  /** Releases the snapshot (and a lock, if the store keeps one). Must not throw for an already failed commit. */
  close(): Promise<void>;
}

export interface Pop3Backend {
  /**
   * Checks a user name and password (USER/PASS or SASL PLAIN's authcid/passwd). Refusals are values; a throw is
   * an internal error (logged, `-ERR [SYS/TEMP]`). The server never logs the password.
   */
  authenticate(user: string, password: string, ctx: SessionContext): Promise<AuthResult>;
  /** Snapshots the account's INBOX for this session. Throw Pop3BackendError to refuse with a specific code. */
  openMaildrop(account: AccountHandle, ctx: SessionContext): Promise<Maildrop>;
}

export type Pop3BackendErrorCode =
  | 'IN_USE' // `-ERR [IN-USE]`: the maildrop is locked by another session
  | 'TEMPORARY' // `-ERR [SYS/TEMP]`: try again later
  | 'PERMANENT'; // `-ERR [SYS/PERM]`: needs an operator

/** What the store throws from openMaildrop to choose the reply; any other error counts as TEMPORARY and is logged. */
export class Pop3BackendError extends Error {
  readonly code: Pop3BackendErrorCode;

  constructor(code: Pop3BackendErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'Pop3BackendError';
    this.code = code;
  }
}
