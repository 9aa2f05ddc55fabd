// The logging interface the front ends (POP3, IMAP) write to (pino-compatible: `info(obj, msg)`), and a silent one.
// Vocabulary: {subsystem, event, cid?, ip?, ...}; must never log a password or a message body.

export type LogFields = Record<string, unknown>;

export interface Logger {
  info(obj: LogFields, msg?: string): void;
  warn(obj: LogFields, msg?: string): void;
  error(obj: LogFields, msg?: string): void;
}

export const silentLogger: Logger = {
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
export function scopedLogger(base: Logger, fixed: LogFields): Logger {
  return {
    info: (obj, msg) => base.info({ ...fixed, ...obj }, msg),
    warn: (obj, msg) => base.warn({ ...fixed, ...obj }, msg),
    error: (obj, msg) => base.error({ ...fixed, ...obj }, msg),
  };
}
