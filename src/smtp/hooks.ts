// Typed policy hooks of the SMTP front end: where the washer (DNSBL, SPF/DKIM/DMARC, spam, virus) plugs in.
// Types only. A hook decides; it never writes to the socket and never stores anything.

import type { AcceptedRecipient, Disposition, ListenerKind, Principal, SmtpCallContext } from './backend.ts';
import type { SmtpReply } from './replies.ts';

/** continue: the front end goes on with its own checks; reject: the client gets `reply` (a 4xx or 5xx). */
export type PolicyVerdict = { readonly action: 'continue' } | { readonly action: 'reject'; readonly reply: SmtpReply };

export interface ConnectFacts {
  readonly listener: ListenerKind;
  readonly remoteAddress: string;
  readonly remotePort: number;
  /** Reverse DNS name, or null when unknown or lookups are off. */
  readonly clientHostname: string | null;
  /** Implicit TLS (465). */
  readonly secure: boolean;
}

export interface MailFromFacts extends ConnectFacts {
  /** The HELO/EHLO argument. */
  readonly helo: string;
  /** Reverse-path without brackets, '' for `<>`. */
  readonly mailFrom: string;
  readonly declaredSizeBytes: number | null;
  /** RFC 6152 BODY= value, lower case: '7bit' (also when absent) or '8bitmime'. */
  readonly bodyType: string;
  readonly smtpUtf8: boolean;
  readonly principal: Principal | null;
  /** TLS in use now (STARTTLS or implicit). */
  readonly tls: boolean;
}

export interface RcptToFacts extends MailFromFacts {
  /** The recipient the front end is about to accept (its own checks passed). */
  readonly recipient: AcceptedRecipient;
}

export interface DataFacts extends MailFromFacts {
  readonly recipients: readonly AcceptedRecipient[];
  /** The front-end message id. */
  readonly id: string;
  /** The message as it will be stored, our trace headers included. Iterable more than once. */
  readonly message: AsyncIterable<Uint8Array>;
  readonly sizeBytes: number;
}

/**
 * After DATA: accept into INBOX or Junk, or refuse with a 5xx during the dialogue (never a silent drop).
 * `prependHeaders`: complete header fields, each CRLF-terminated (Authentication-Results, X-Spam-*),
 * stored right after our Return-Path, above our Received (RFC 8601 §5); malformed text is an internal error.
 * `recipientDispositions`: where recipients' thresholds differ, each accepted recipient address's own
 * folder (SMTP has one reply for all, so a recipient who would refuse gets Junk); absent ones get `disposition`.
 */
export type DataVerdict =
  | {
      readonly action: 'accept';
      readonly disposition: Disposition;
      readonly recipientDispositions?: ReadonlyMap<string, Disposition>;
      readonly record?: FilterRecord;
      readonly prependHeaders?: string;
    }
  | { readonly action: 'reject'; readonly reply: SmtpReply; readonly record?: FilterRecord };

/** The washer's decision (scores, rules, outcome), kept with the message and logged. Plain data. */
export type FilterRecord = Readonly<Record<string, unknown>>;

/**
 * Each hook runs after the front end's own checks for that stage passed. A hook that
 * throws is an internal error: logged, 451 4.3.0 to the client.
 */
export interface SmtpPolicyHooks {
  onConnect?(facts: ConnectFacts, ctx: SmtpCallContext): Promise<PolicyVerdict>;
  onMailFrom?(facts: MailFromFacts, ctx: SmtpCallContext): Promise<PolicyVerdict>;
  onRcptTo?(facts: RcptToFacts, ctx: SmtpCallContext): Promise<PolicyVerdict>;
  onData?(facts: DataFacts, ctx: SmtpCallContext): Promise<DataVerdict>;
}
