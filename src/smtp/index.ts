// Public surface of the SMTP front end: the server, its config, the backend contract, hooks, replies and errors.
// Re-exports only; importers outside src/smtp use this file, never the command handlers.

export type { AcceptedRecipient, AccountId, DeliveryRequest, DeliveryResult, Disposition, ListenerKind, Principal, RecipientContext, RecipientVerdict, SmtpBackend, SmtpCallContext } from './backend.ts';
export { accountId } from './backend.ts';
export type { ListenerConfig, SmtpConfig, TlsFiles, TlsPem } from './config.ts';
export { validateSmtpConfig } from './config.ts';
export { isSmtpBackendError, SmtpBackendError, SmtpConfigError, type SmtpBackendErrorCode } from './errors.ts';
export type { ConnectFacts, DataFacts, DataVerdict, MailFromFacts, PolicyVerdict, RcptToFacts, SmtpPolicyHooks } from './hooks.ts';
export { defaultSmtpLimits, type SmtpLimits } from './limits.ts';
export type { SmtpLogger } from './logger.ts';
export { customReply, deliveredReply, formatReply, replies, type ReplyName, type SmtpReply } from './replies.ts';
export type { Clock } from './runtime.ts';
export { randomMessageId, SmtpFrontEnd, type BoundListener, type SmtpFrontEndDeps } from './server.ts';
