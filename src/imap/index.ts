// Public surface of the IMAP front end: the server, its configuration and hooks.
// Nothing here is imported by the store; the dependency points from imap to the store's interfaces only.

export { ImapServer, type ImapServerAddresses, type ImapServerOptions } from './server.ts';
export { type ImapListenAddress, type ImapServerConfig, type ResolvedImapConfig, resolveImapConfig } from './config.ts';
export type { ImapHooks, MessagesMovedEvent } from './hooks.ts';
export { ImapError, type ImapErrorCode } from './errors.ts';
export { summaryExtras } from './commands/append.ts';
