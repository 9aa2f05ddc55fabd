// Every SMTP reply stormo chooses itself, as a named value with its RFC 5321 code and RFC 3463 enhanced code.
// Values and formatting only: no I/O, and never text built from an internal error.

export interface SmtpReply {
  /** RFC 5321 §4.2 three-digit reply code. */
  readonly code: number;
  /** RFC 3463 enhanced status code; its class digit always equals the reply's first digit (RFC 3463 §3.1). */
  readonly enhanced: string;
  /** Human-readable text; never contains client or internal error text unless a builder says so. */
  readonly text: string;
}

const enhancedSyntax = /^([245])\.(\d{1,3})\.(\d{1,3})$/;

function reply(code: number, enhanced: string, text: string): SmtpReply {
  const m = enhancedSyntax.exec(enhanced);
  if (m === null || Number(m[1]) !== Math.floor(code / 100) || code < 200 || code > 599) {
    throw new Error(`smtp: reply ${code} ${enhanced} is malformed (RFC 3463 §3.1)`);
  }
  if (/[\r\n]/.test(text)) throw new Error('smtp: reply text must be one line');
  return Object.freeze({ code, enhanced, text });
}

export const replies = Object.freeze({
  // --- connection (RFC 5321 §3.8: a server closes only after a 421) ---
  /** Per-address connection limit (Postfix smtpd_client_connection_count_limit). */
  tooManyConnectionsFromIp: reply(421, '4.7.0', 'Too many connections from your address, try again later'),
  /** smtpd-style error limit: the client keeps sending commands we do not know. */
  tooManyUnrecognizedCommands: reply(421, '4.7.0', 'Too many unrecognized commands, closing connection'),
  /** Submission: more than limits.unauthenticatedCommandsMax commands without a successful AUTH. */
  tooManyUnauthenticatedCommands: reply(421, '4.7.0', 'Too many commands before authentication, closing connection'),
  /** Something failed while admitting the connection: the session cannot start. */
  serviceUnavailable: reply(421, '4.3.0', 'Service temporarily unavailable, closing connection'),
  /** A command line over limits.commandLineBytesMax (RFC 5321 §4.5.3.1.4, RFC 4954 §4). */
  commandLineTooLong: reply(421, '4.7.0', 'Line too long, closing connection'),

  // --- TLS and authentication (RFC 3207 §4, RFC 4954 §6) ---
  /** RFC 3207 §4: the policy requires TLS before anything but NOOP, EHLO, STARTTLS, QUIT. */
  tlsRequired: reply(530, '5.7.0', 'Must issue a STARTTLS command first'),
  /** RFC 4954 §6: submission requires AUTH before MAIL. */
  authRequired: reply(530, '5.7.0', 'Authentication required'),
  /** RFC 4954 §6 "535 5.7.8": wrong user name or password. Same text whatever was wrong. */
  authInvalid: reply(535, '5.7.8', 'Authentication credentials invalid'),
  /** RFC 4954 §6 "454 4.7.0": the directory could not answer. */
  authTemporaryFailure: reply(454, '4.7.0', 'Temporary authentication failure'),
  /** Too many failures from this address in the window: refused before any password check. */
  authTooManyFailures: reply(421, '4.7.0', 'Too many failed authentications from your address, try again later'),

  // --- MAIL FROM ---
  /** Postfix reject_sender_login_mismatch: RFC 5321 553 (mailbox name not allowed), RFC 3463 X.7.1 (not authorized). */
  senderNotOwned: reply(553, '5.7.1', 'Sender address rejected: not owned by the authenticated user'),

  // --- RCPT TO ---
  /** RFC 5321 550 (mailbox unavailable), RFC 3463 X.1.1 (bad destination mailbox address). */
  unknownRecipient: reply(550, '5.1.1', 'Recipient address rejected: user unknown'),
  /**
   * MX: the domain is not hosted here. RFC 3463 X.7.1 (delivery not authorized). 550, not
   * Postfix's 554: RFC 5321 §4.3.2 does not list 554 among the replies to RCPT.
   */
  relayDenied: reply(550, '5.7.1', 'Relay access denied'),
  /**
   * Submission: a remote recipient while outbound delivery does not exist yet. Permanent
   * (this server will not relay, retrying changes nothing) and X.7.1 because the sender is
   * not authorized to send to that destination through us; 550 as above.
   */
  remoteRelayUnavailable: reply(550, '5.7.1', 'Relaying to remote domains is not available yet'),
  /** RFC 5321 552 (exceeded storage allocation), RFC 3463 X.2.2 (mailbox full). At RCPT or after DATA. */
  mailboxFull: reply(552, '5.2.2', 'Mailbox full'),

  // --- DATA ---
  /** RFC 1870 §6.3 and RFC 3463 X.3.4 (message too big for system). */
  messageTooBig: reply(552, '5.3.4', 'Message size exceeds fixed maximum message size'),
  /** A data line over limits.dataLineBytesMax. RFC 5321 §4.3.2 554 (transaction failed), RFC 3463 X.6.0 (media error). */
  dataLineTooLong: reply(554, '5.6.0', 'Message contains a line too long (RFC 5322 2.1.1)'),
  /** Backend STORAGE_FULL or the in-memory budget spent. RFC 5321 452, RFC 3463 X.3.1 (mail system full). */
  storageFull: reply(452, '4.3.1', 'Insufficient system storage, try again later'),

  // --- any command ---
  /** STYLE: an internal error is logged once and becomes this, never echoed. RFC 5321 451, RFC 3463 X.3.0. */
  localError: reply(451, '4.3.0', 'Local error in processing, try again later'),
});

export type ReplyName = keyof typeof replies;

/** `250 2.0.0 Ok: stored as <id>`: the message is durable (DESIGN principle 3). */
export function deliveredReply(messageId: string): SmtpReply {
  return reply(250, '2.0.0', `Ok: stored as ${messageId}`);
}

/** Builds a reply for a policy hook (the washer): its own code, enhanced code and text, checked like ours. */
export function customReply(code: number, enhanced: string, text: string): SmtpReply {
  return reply(code, enhanced, text);
}

/** The reply line without CRLF, as the client sees it. */
export function formatReply(r: SmtpReply): string {
  return `${r.code} ${r.enhanced} ${r.text}`;
}

/** Text for smtp-server's callbacks: the enhanced code first (connection.ts then adds none of its own). */
export function replyText(r: SmtpReply): string {
  return `${r.enhanced} ${r.text}`;
}

/** True when a reply text already starts with an RFC 3463 code (then nothing else may add one). */
export function carriesEnhancedCode(text: string): boolean {
  const space = text.indexOf(' ');
  return enhancedSyntax.test(space < 0 ? text : text.slice(0, space));
}

/**
 * The error value smtp-server's handler callbacks take: `responseCode` is the reply code,
 * the message starts with the enhanced code. connection.ts keeps smtp-server from adding
 * a second enhanced code of its own.
 */
export class SmtpReplyError extends Error {
  readonly responseCode: number;
  readonly reply: SmtpReply;

  constructor(r: SmtpReply) {
    super(replyText(r));
    this.name = 'SmtpReplyError';
    this.responseCode = r.code;
    this.reply = r;
  }
}
