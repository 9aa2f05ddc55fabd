// What an IMAP command declares (allowed states, a pure parse, a handler) and what a handler may use: the
// Session. Handlers act through it, the store and the blob store; never on sockets.

import type { Blobs } from '../../blob/index.ts';
import type { Logger } from '../../net/logger.ts';
import type { AccountRecord, Store } from '../../store/index.ts';
import type { ResolvedImapConfig } from '../config.ts';
import type { ImapHooks } from '../hooks.ts';
import type { MailboxView, ViewOptions } from '../mailbox-view.ts';
import type { ParseOptions } from '../proto/commands.ts';
import type { Chunk, EncodeOptions } from '../proto/encode.ts';
import type { Reader } from '../proto/reader.ts';

/** RFC 9051 §3. */
export type SessionState = 'notAuthenticated' | 'authenticated' | 'selected' | 'logout';

/** The tagged reply that ends a command. */
export interface Completion {
  readonly status: 'OK' | 'NO' | 'BAD';
  readonly code?: string | null;
  readonly text: string;
}

export const ok = (text: string, code: string | null = null): Completion => ({ status: 'OK', code, text });
export const no = (text: string, code: string | null = null): Completion => ({ status: 'NO', code, text });
export const bad = (text: string, code: string | null = null): Completion => ({ status: 'BAD', code, text });

export interface Call {
  readonly tag: string;
  /** The UID form (RFC 9051 §6.4.9). */
  readonly uid: boolean;
}

export interface CommandSpec<A> {
  readonly rfc: string;
  readonly states: readonly SessionState[];
  /** Pure: the arguments after the command name; throws ParseError. */
  parse(r: Reader, o: ParseOptions, uid: boolean): A;
  /** The tagged completion, or null when the connection is gone (nothing more to say). */
  handle(s: Session, args: A, call: Call): Promise<Completion | null>;
  /** The UID form exists (FETCH, STORE, COPY, MOVE, SEARCH, EXPUNGE, SORT, THREAD). */
  readonly uidForm?: boolean;
  /**
   * RFC 9051 §7.5.1: no EXPUNGE while responding to FETCH, STORE or SEARCH (SORT and THREAD alike):
   * sequence numbers the client is reading must not move. UID forms may.
   */
  readonly holdsExpunge?: boolean;
}

export interface Session {
  readonly cid: string;
  readonly clientIp: string;
  readonly config: ResolvedImapConfig;
  readonly store: Store;
  readonly blobs: Blobs;
  readonly hooks: ImapHooks;
  readonly log: Logger;
  state: SessionState;
  account: AccountRecord | null;
  view: MailboxView | null;
  /** ENABLEd extensions (RFC 5161), upper case: CONDSTORE, QRESYNC, IMAP4REV2, UTF8=ACCEPT. */
  readonly enabled: Set<string>;
  readonly secure: boolean;
  readonly tlsAvailable: boolean;
  readonly compressed: boolean;
  readonly plaintextAuthAllowed: boolean;
  readonly open: boolean;
  readonly encodeOptions: EncodeOptions;
  readonly viewOptions: ViewOptions;
  /** RFC 7162 §3.1: a CONDSTORE-enabling command was used. */
  enableCondstore(): void;

  /** Writes untagged responses (or a continuation), waiting while the client does not read. */
  send(chunks: string | readonly Chunk[]): Promise<void>;
  /** The client's next line (a SASL response, IDLE's DONE); undefined when the connection closed. */
  readLine(maxBytes: number): Promise<Buffer | undefined>;
  /**
   * After the tagged OK is written: the TLS handshake (STARTTLS, RFC 9051 §6.2.1) or raw DEFLATE in both
   * directions (COMPRESS, RFC 4978).
   */
  afterReply(action: 'starttls' | 'compress'): void;
  /** IDLE (RFC 2177): tells changes as they come until DONE, a timeout or the connection ends. */
  idle(tag: string): Promise<Completion | null>;
  /** Enters the authenticated state for `account`; false when the per-user connection limit is reached. */
  loggedIn(account: AccountRecord): boolean;
  /** Selects a view (null deselects), registering for its folder's changes. */
  setView(view: MailboxView | null): void;
  authBlocked(): boolean;
  authFailed(): Promise<{ readonly closeAfterReply: boolean }>;
  /** Ends the session after the current reply. */
  end(): void;
  /** Drops the connection now (a literal that cannot be finished): no reply can follow. */
  abort(): void;
}
