// Typed errors of the SMTP front end: what a backend may throw, and configuration errors. Stable codes, cause chained.
// Operating conditions only; the mapping of these codes to SMTP replies lives in the command handlers.

import type { AccountId } from './backend.ts';

export type SmtpBackendErrorCode =
  | 'STORAGE_FULL' // disk (or blob quorum) cannot take the message: 452 4.3.1, nothing stored
  | 'QUOTA_EXCEEDED' // storing would put `overQuota` accounts over quota: nothing stored
  | 'UNAVAILABLE'; // the store or directory cannot answer now (no leader, no quorum): 451 4.3.0

export class SmtpBackendError extends Error {
  readonly code: SmtpBackendErrorCode;
  /** QUOTA_EXCEEDED only: the accounts the message does not fit in (non-empty). */
  readonly overQuota: readonly AccountId[];

  constructor(code: SmtpBackendErrorCode, message: string, opts: { cause?: unknown; overQuota?: readonly AccountId[] } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SmtpBackendError';
    this.code = code;
    this.overQuota = opts.overQuota ?? [];
  }
}

export function isSmtpBackendError(e: unknown, code?: SmtpBackendErrorCode): e is SmtpBackendError {
  return e instanceof SmtpBackendError && (code === undefined || e.code === code);
}

export class SmtpConfigError extends Error {
  readonly code = 'CONFIG_INVALID';

  constructor(message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SmtpConfigError';
  }
}
