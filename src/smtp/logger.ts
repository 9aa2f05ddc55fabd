// The logger the SMTP front end is given: the subset of pino's API it uses, so a pino instance fits as is.
// One vocabulary (STYLE): {subsystem: 'smtp', event, listener, cid, tnx?, id?}; never a password or message content.

export interface SmtpLogger {
  debug(fields: object, msg?: string): void;
  info(fields: object, msg?: string): void;
  warn(fields: object, msg?: string): void;
  error(fields: object, msg?: string): void;
}

export const silentLogger: SmtpLogger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});
