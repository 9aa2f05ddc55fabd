// Public surface of the POP3 front end: the server, its configuration, and the backend contract the store implements.
// Nothing here is imported by the store; the dependency points from pop3 to the store's interfaces only.

export type { AccountHandle, AuthRefusal, AuthResult, Maildrop, MaildropMessage, Pop3Backend, Pop3BackendErrorCode, SessionContext } from './backend.ts';
export { Pop3BackendError } from './backend.ts';
export type { Pop3ListenAddress, Pop3ServerConfig, ResolvedPop3Config } from './config.ts';
export { resolvePop3Config } from './config.ts';
export { Pop3Error, isPop3Error, type Pop3ErrorCode } from './errors.ts';
export type { LogFields, Logger as Pop3Logger } from '../net/logger.ts';
export { Pop3Server, type Pop3ServerAddresses, type Pop3ServerOptions } from './server.ts';
export type { Timer as Pop3Timer, Timers as Pop3Timers } from '../net/timers.ts';
