// Typed errors of the POP3 front end: stable codes, optional cause. Operating conditions only;
// the store's refusals have their own class (Pop3BackendError in backend.ts).

export type Pop3ErrorCode =
  | 'CONFIG_INVALID' // a configuration field is out of range or contradicts another
  | 'LISTEN_FAILED' // a listener could not bind
  | 'NOT_LISTENING' // listen() was not called, or close() already was
  | 'MAILDROP_INVALID'; // the store returned a snapshot that breaks the Maildrop contract (uidl syntax, duplicates, sizes)

export class Pop3Error extends Error {
  readonly code: Pop3ErrorCode;

  constructor(code: Pop3ErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'Pop3Error';
    this.code = code;
  }
}

export function isPop3Error(e: unknown, code?: Pop3ErrorCode): e is Pop3Error {
  return e instanceof Pop3Error && (code === undefined || e.code === code);
}
