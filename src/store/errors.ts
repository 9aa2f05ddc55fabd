// Typed errors of the store: stable codes, optional cause; apply returns them as values.
// Foreign errors (LevelDB) are translated here at the module boundary.

export type StoreErrorCode =
  | 'EXISTS' // the tenant, domain, address or folder already exists
  | 'NOT_FOUND' // no such tenant, domain, account, folder or message
  | 'NOT_EMPTY' // a domain that still has accounts, a folder that cannot be deleted
  | 'INVALID' // a malformed command or argument
  | 'QUOTA_EXCEEDED' // the message would put the account over its quota (RFC 3463 5.2.2)
  | 'MODIFIED' // CONDSTORE UNCHANGEDSINCE failed for some messages (RFC 7162 §3.1.3)
  | 'UNAVAILABLE' // the store cannot serve now (no leader, timeout): retry
  | 'STORAGE'; // the disk failed

export class StoreError extends Error {
  readonly code: StoreErrorCode;

  constructor(code: StoreErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'StoreError';
    this.code = code;
  }
}

/** The outcome of applying one command: deterministic, so it is a value, never a throw. */
export type ApplyResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly code: StoreErrorCode; readonly message: string };

export const ok = <T>(value: T): ApplyResult<T> => ({ ok: true, value });
export const fail = (code: StoreErrorCode, message: string): ApplyResult<never> => ({ ok: false, code, message });
