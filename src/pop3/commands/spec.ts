// What a POP3 command declares (allowed states, a pure parse, a handler) and what a handler may do: the
// CommandContext. Handlers act only through it and the Pop3Backend interface; never on sockets or the store.

import type { Logger } from '../../net/logger.ts';
import type { Pop3Backend, SessionContext } from '../backend.ts';
import type { LineEvent } from '../proto/line-reader.ts';
import * as replies from '../proto/replies.ts';
import type { Reply } from '../proto/reply.ts';
import type { AuthorizationState, Pop3State, SessionState, TransactionState } from '../session-state.ts';

export type ParseResult<A> = { readonly ok: true; readonly args: A } | { readonly ok: false; readonly reply: Reply };

export interface CommandSpec<A> {
  /** Where the command is defined, for readers and logs. */
  readonly rfc: string;
  /** States in which the command is valid (RFC 1939 §3); elsewhere the server answers -ERR without parsing. */
  readonly states: readonly Pop3State[];
  /** Pure: the text after the keyword to typed arguments, or the syntax error reply. */
  parse(rest: string): ParseResult<A>;
  handle(ctx: CommandContext, args: A): Promise<void>;
}

/** The outcome of streaming a message: sent whole, not started (read failed first: reply -ERR), or connection gone. */
export type SendOutcome = 'sent' | 'unavailable' | 'aborted';

export interface CommandContext {
  readonly cid: string;
  readonly clientIp: string;
  readonly serverName: string;
  readonly backend: Pop3Backend;
  /** Logger with subsystem, cid and ip already set. */
  readonly log: Logger;
  /** TLS protects the session (implicit TLS, or STLS completed). */
  readonly secure: boolean;
  /** STLS can be offered: a certificate is configured and TLS is not active yet. */
  readonly tlsAvailable: boolean;
  /** USER/PASS and AUTH PLAIN may be used now: TLS is active, or the operator allows plaintext auth. */
  readonly plaintextAuthAllowed: boolean;
  /** False once the client is gone or the session is ending; re-check after every await. */
  readonly open: boolean;
  state: SessionState;

  reply(reply: Reply): Promise<void>;
  /** A multi-line listing (LIST, UIDL, CAPA, AUTH): status line, dot-stuffed lines, terminator. */
  replyListing(head: Reply, lines: readonly string[]): Promise<void>;
  /** RFC 5034 §4 server challenge `+ base64`. */
  continuation(base64: string): Promise<void>;
  /**
   * Streams a message body as a multi-line response after `head`, normalizing line ends and dot-stuffing.
   * `topBodyLines` cuts it as TOP does; `expectedOctets` is checked against what the store delivered.
   */
  sendMessage(head: Reply, body: AsyncIterable<Uint8Array>, opts: { expectedOctets?: number; topBodyLines?: number }): Promise<SendOutcome>;
  /** The client's next line (SASL continuation); undefined when the connection closed. */
  readLine(maxBytes: number): Promise<LineEvent | undefined>;
  /** RFC 2595 §4: after "+OK", the TLS handshake; false (connection closing) when it fails. */
  startTls(): Promise<boolean>;
  /** Close the connection once pending output is flushed; no further command is read. */
  end(): void;
  /** This client address has failed too often recently: refuse without asking the store. */
  authBlocked(): boolean;
  /** Records a failed login and waits the failure delay; true when the connection must close after the reply. */
  authFailed(): Promise<{ readonly closeAfterReply: boolean }>;
  sessionContext(mechanism: SessionContext['mechanism']): SessionContext;
}

/** The dispatcher checked the state; reaching here in another is a programmer error. */
export function requireAuthorization(ctx: CommandContext): AuthorizationState {
  if (ctx.state.name !== 'AUTHORIZATION') throw new Error(`pop3: AUTHORIZATION command run in ${ctx.state.name}`);
  return ctx.state;
}

export function requireTransaction(ctx: CommandContext): TransactionState {
  if (ctx.state.name !== 'TRANSACTION') throw new Error(`pop3: TRANSACTION command run in ${ctx.state.name}`);
  return ctx.state;
}

/** Parse for a command without arguments (a trailing space is tolerated). */
export function parseNoArgs(usage: string): (rest: string) => ParseResult<null> {
  return (rest) => (rest.trim() === '' ? { ok: true, args: null } : { ok: false, reply: replies.syntax(usage) });
}
