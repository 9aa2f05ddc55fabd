// Typed errors of the IMAP front end: stable codes, optional cause. Operating conditions only;
// a client's syntax error is a ParseError in proto/, never one of these.

export type ImapErrorCode =
  | 'CONFIG_INVALID' // a configuration field is out of range or contradicts another
  | 'LISTEN_FAILED' // a listener could not bind
  | 'NOT_LISTENING'; // listen() was not called, or close() already was

export class ImapError extends Error {
  readonly code: ImapErrorCode;

  constructor(code: ImapErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ImapError';
    this.code = code;
  }
}
