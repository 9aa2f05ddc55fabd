// The washer's error taxonomy: one class, stable codes, the scanner it concerns, `cause` chained.
// Foreign errors (sockets, DNS, HTTP) are translated here at the client boundary; nothing else throws them.

export type FilterErrorCode =
  /** The scanner did not answer within its timeout. */
  | 'TIMEOUT'
  /** Connection refused, reset or closed early: the scanner is down. */
  | 'UNAVAILABLE'
  /** The scanner answered something we cannot read. */
  | 'PROTOCOL'
  /** A setting or configuration value is invalid. */
  | 'CONFIG';

export type ScannerName = 'spamd' | 'rspamd' | 'clamd' | 'dnsbl' | 'auth' | 'rdns' | 'settings';

export class FilterError extends Error {
  readonly code: FilterErrorCode;
  readonly scanner: ScannerName;

  constructor(scanner: ScannerName, code: FilterErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${scanner}: ${message}`, options);
    this.name = 'FilterError';
    this.code = code;
    this.scanner = scanner;
  }
}

export function isFilterError(e: unknown, code?: FilterErrorCode): e is FilterError {
  return e instanceof FilterError && (code === undefined || e.code === code);
}

/** Socket errors mean the scanner is down; a FilterError passes through unchanged. */
export function translateSocketError(scanner: ScannerName, e: unknown): FilterError {
  if (e instanceof FilterError) return e;
  const code = (e as { code?: string }).code ?? '';
  if (code === 'ETIMEDOUT') return new FilterError(scanner, 'TIMEOUT', 'timed out', { cause: e });
  return new FilterError(scanner, 'UNAVAILABLE', code !== '' ? `connection failed (${code})` : 'connection failed', { cause: e });
}
