// Typed errors of the MIME library: stable codes, optional cause. Malformed messages are not errors
// (summarize gives a best-effort tree); these are for corrupt stored summaries and undecodable sections.

export type MimeErrorCode =
  | 'CORRUPT' // an encoded summary does not decode to a valid MessageSummary
  | 'UNKNOWN_CTE' // BINARY asked for a part whose Content-Transfer-Encoding is not one we decode (RFC 3516)
  | 'TOO_DEEP' // a structure is nested beyond mimeLimits.depthMax where no fallback exists
  | 'TOO_MANY'; // THREAD was given more than mimeLimits.threadMessagesMax messages

export class MimeError extends Error {
  readonly code: MimeErrorCode;

  constructor(code: MimeErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'MimeError';
    this.code = code;
  }
}

export function isMimeError(e: unknown, code?: MimeErrorCode): e is MimeError {
  return e instanceof MimeError && (code === undefined || e.code === code);
}
