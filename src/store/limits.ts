// Every limit of the store, with its unit in the name. Going over one is an explicit error, never growth.

export const storeLimits = {
  /** Folders in one account. */
  foldersPerAccountMax: 1_000,
  /** Bytes of a folder name (RFC 9051 sets none; Dovecot's default is 255 per level). */
  folderNameBytesMax: 255,
  /** Messages touched by one flags/expunge/copy/move command: larger requests are split by the caller. */
  messagesPerCommandMax: 10_000,
  /** Messages removed with a folder or an account in one command. */
  messagesPerDeleteMax: 1_000_000,
  /** Targets of one alias. */
  aliasTargetsMax: 1_000,
  /** Flags and keywords on one message (RFC 9051 sets none; Dovecot caps keywords per mailbox). */
  flagsPerMessageMax: 64,
  /** Bytes of one flag or keyword. */
  flagBytesMax: 128,
  /** Request ids remembered for exactly-once apply, evicted in log order. */
  requestsRememberedMax: 100_000,
  /** Encoded bytes of one message's extras (MIME summary + washer record). */
  messageExtrasBytesMax: 256 * 1024,
  /** Encoded bytes of one domain or account setting's value. */
  settingBytesMax: 64 * 1024,
  /** Settings of one domain or account. */
  settingsPerOwnerMax: 64,
  /** Bytes of an address (RFC 5321 §4.5.3.1: 64 local + 255 domain + @). */
  addressBytesMax: 320,
} as const;
