// SmtpBackend: what the SMTP front end needs from the directory and the store, and the exact meaning of each call.
// Types only: no implementation here, and nothing about sockets, SMTP syntax or reply codes.

/** An account (a mailbox owner) in the directory. Branded: not interchangeable with an address. */
export type AccountId = string & { readonly __brand: 'AccountId' };

export function accountId(id: string): AccountId {
  return id as AccountId;
}

/** Which listener a call comes from: MX (25), submission with STARTTLS (587), submission over implicit TLS (465). */
export type ListenerKind = 'mx' | 'submission' | 'submissions';

/** Passed to every call, for logs, tracking and cancellation. */
export interface SmtpCallContext {
  readonly listener: ListenerKind;
  /** Connection id (smtp-server's session id), the `cid` of the logs. */
  readonly cid: string;
  /** Transaction id (`tnx` of the logs, `id` of our Received header); undefined outside a mail transaction (AUTH). */
  readonly tnx: string | undefined;
  /** The client's address: the PROXY protocol source address when the listener trusts a proxy. */
  readonly remoteAddress: string;
  /**
   * Aborted when the front end stops waiting (deliverTimeoutMs, shutdown). A backend may
   * ignore it; the front end has already replied with a temporary failure by then.
   */
  readonly signal: AbortSignal;
}

/** An authenticated submission user. */
export interface Principal {
  readonly accountId: AccountId;
  /** The login name as the directory spells it (logged; never a password). */
  readonly username: string;
}

/** The directory's answer for one RCPT TO address in a hosted domain. */
export type RecipientVerdict =
  /** A mailbox of its own. */
  | { readonly kind: 'account'; readonly accountId: AccountId }
  /** An alias or list expanding to local accounts: non-empty, duplicates allowed (the backend delivers once per account). */
  | { readonly kind: 'alias'; readonly accountIds: readonly AccountId[] }
  /** No such address: 550 5.1.1. */
  | { readonly kind: 'unknown' }
  /**
   * The account is already over quota, or the size declared with MAIL FROM SIZE= (passed in
   * RecipientContext) would put it over: 552 5.2.2 for this recipient only.
   */
  | { readonly kind: 'over-quota'; readonly accountId: AccountId }
  /** The directory cannot answer now: 451 4.3.0, the client retries this recipient. */
  | { readonly kind: 'unavailable' };

export interface RecipientContext extends SmtpCallContext {
  /** The size the client declared with MAIL FROM SIZE= (RFC 1870), or null; for an early quota check. */
  readonly declaredSizeBytes: number | null;
  /** The authenticated sender on submission, null on the MX. */
  readonly principal: Principal | null;
}

/** A recipient the front end answered 250 at RCPT TO. */
export interface AcceptedRecipient {
  /** The address as the client gave it (domain in Unicode: smtp-server decodes punycode). */
  readonly address: string;
  /** The accounts it resolved to at RCPT time: non-empty. */
  readonly accountIds: readonly AccountId[];
}

/** Where the policy (the washer) files the message: DESIGN "spam has three outcomes"; the third is a 5xx. */
export type Disposition = 'inbox' | 'junk';

export interface DeliveryRequest {
  /** Front-end message id, unique per DATA: the tracking key, logged as `id`, shown in the 250 reply. */
  readonly id: string;
  /** Reverse-path without angle brackets; '' for the null sender `<>`. */
  readonly mailFrom: string;
  /** Non-empty; one entry per distinct RCPT TO address, in the order accepted. */
  readonly recipients: readonly AcceptedRecipient[];
  /**
   * The complete message as it must be stored, byte for byte: `Return-Path:` and our
   * `Received:` first, then the data as received (dot-unstuffed, bare LF made CRLF).
   * Iterable any number of times, yielding the same bytes each time.
   */
  readonly body: AsyncIterable<Uint8Array>;
  /** Exact byte length of `body`. */
  readonly sizeBytes: number;
  /** When the final dot arrived, ms since the epoch (the Received date). */
  readonly receivedAtMs: number;
  /** The authenticated sender on submission, null on the MX. */
  readonly principal: Principal | null;
  readonly disposition: Disposition;
  /** Per accepted recipient address (as in `recipients`), where it differs from `disposition`. */
  readonly recipientDispositions?: ReadonlyMap<string, Disposition>;
  /** The washer's decision, kept with the message for tracking; absent without a washer. */
  readonly filter?: Readonly<Record<string, unknown>>;
  /**
   * true: throw QUOTA_EXCEEDED, storing nothing, if the message does not fit in some
   * account's quota. false: store for every account even past quota (the front end uses
   * this only after a QUOTA_EXCEEDED that named some but not all accounts; see
   * commands/data.ts for why).
   */
  readonly enforceQuota: boolean;
}

export interface DeliveryResult {
  /** The store's identifier of the stored content (for example the blob's sha256), logged as `stored`. */
  readonly storedId: string;
}

/**
 * The front end's view of the directory and the store. The MX, submission and
 * submissions listeners all use one instance. Every method may throw
 * SmtpBackendError('UNAVAILABLE') (-> 451 4.3.0 / 454 4.7.0); any other exception is
 * treated as an internal error: logged once, 451 4.3.0 to the client.
 */
export interface SmtpBackend {
  /** True when `domain` (lower case, Unicode) is hosted here. Decides relay refusal before resolveRecipient. */
  isLocalDomain(domain: string, ctx: SmtpCallContext): Promise<boolean>;

  /**
   * Resolves an RCPT TO address in a hosted domain (or the domainless `postmaster`, which
   * RFC 5321 §4.1.1.3 requires us to accept). Address case and canonical form are the
   * directory's business. Must not have side effects: a 250 at RCPT promises nothing yet.
   */
  resolveRecipient(address: string, ctx: RecipientContext): Promise<RecipientVerdict>;

  /**
   * Checks a submission login (AUTH PLAIN or LOGIN; the authorization identity is always
   * the login itself). Resolves null for wrong credentials or an unknown user, without
   * saying which; the front end adds the delay and counts failures.
   */
  authenticate(username: string, password: string, ctx: SmtpCallContext): Promise<Principal | null>;

  /** May `principal` use `mailFrom` ('' = null sender) as its envelope sender? false -> 553 5.7.1. */
  senderAllowed(principal: Principal, mailFrom: string, ctx: SmtpCallContext): Promise<boolean>;

  /**
   * Stores the message for every account of every recipient, once per distinct account.
   *
   * Resolves only when the message is durable: the blob fsynced on a write quorum and the
   * metadata committed by a Raft majority (DESIGN principle 3). Only then does the client
   * get 250; if this process dies before, the client gets no reply and retries.
   *
   * Typed failures: STORAGE_FULL (-> 452 4.3.1), QUOTA_EXCEEDED with `overQuota` (see
   * enforceQuota), UNAVAILABLE (-> 451 4.3.0). QUOTA_EXCEEDED is decided before anything
   * is stored, so no account has the message then. After any other failure the message
   * may already be stored for some accounts (metadata is sharded by account, DESIGN
   * principle 6, so there is no atomic commit across accounts); the client's retry then
   * stores it there again. An orphaned blob may remain for GC.
   *
   * Not idempotent, and need not be: a client that lost our 250 sends the message again
   * and it is stored twice. RFC 5321 §6.1 makes the receiver responsible once it has said
   * 250, so a duplicate is acceptable and a loss is not: resolve only when every account
   * has the message durably.
   */
  deliver(request: DeliveryRequest, ctx: SmtpCallContext): Promise<DeliveryResult>;
}
