// The logging interface the POP3 server writes to (pino-compatible: `info(obj, msg)`), and a silent one.
// Vocabulary: {subsystem: 'pop3', event, cid?, ip?, ...}; never a password or a message body.

export type LogFields = Record<string, unknown>;

export interface Pop3Logger {
  info(obj: LogFields, msg?: string): void;
  warn(obj: LogFields, msg?: string): void;
  error(obj: LogFields, msg?: string): void;
}

export const silentLogger: Pop3Logger = {
  info() {},
  warn() {},
  error() {},
};

/** An error as log fields: name, code and message, and the cause's, without stacks of foreign objects. */
export function errorFields(e: unknown): LogFields {
  if (!(e instanceof Error)) return { err: String(e) };
  const code = (e as { code?: unknown }).code;
  const fields: LogFields = { err: e.message, errName: e.name };
  if (typeof code === 'string') fields.errCode = code;
  if (e.cause !== undefined) fields.errCause = e.cause instanceof Error ? e.cause.message : String(e.cause);
  return fields;
}

/** A logger that adds fixed fields (subsystem, cid, ip) to every line. */
export function scopedLogger(base: Pop3Logger, fixed: LogFields): Pop3Logger {
  return {
    info: (obj, msg) => base.info({ ...fixed, ...obj }, msg),
    warn: (obj, msg) => base.warn({ ...fixed, ...obj }, msg),
    error: (obj, msg) => base.error({ ...fixed, ...obj }, msg),
  };
}
