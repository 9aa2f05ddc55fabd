// Every limit of the IMAP front end, named with its unit; configuration defaults come from here.
// Constants only: no logic and no imports, so protocol code and the server can share them freely.

// ---- Protocol ----

/** One command line (up to its CRLF or a literal marker). RFC 7162 §4 asks servers to accept at least 8 192 octets. */
export const imapLineBytesMax = 64 * 1024;
/** A literal in any command but APPEND (search strings, passwords, mailbox names). */
export const imapLiteralBytesMax = 64 * 1024;
/** A whole non-APPEND command: its lines and literals together. */
export const imapCommandBytesMax = 1024 * 1024;
/** Default APPENDLIMIT (RFC 7889): the largest message APPEND accepts. */
export const imapAppendLimitBytesDefault = 50 * 1024 * 1024;
/** Messages in one MULTIAPPEND (RFC 3502). */
export const imapMultiAppendMessagesMax = 100;
/** Nesting of parentheses in search keys and lists; deeper input is a syntax error, never a stack overflow. */
export const imapParseDepthMax = 32;
/** Search keys in one SEARCH/SORT/THREAD program. */
export const imapSearchKeysMax = 1_000;
/** Ranges in one sequence set. */
export const imapSequenceRangesMax = 10_000;
/** Fetch attributes in one FETCH. */
export const imapFetchItemsMax = 100;
/** Patterns in one LIST. */
export const imapListPatternsMax = 100;
/** Characters in one LIST pattern or reference (folder names are at most 255 bytes). */
export const imapListPatternCharsMax = 1_024;
/** Bytes of a tag. */
export const imapTagBytesMax = 64;
/** Quoted strings sent as quoted rather than a literal are at most this long. */
export const imapQuotedBytesMax = 1_000;
/** RFC 9051 §5.4: an autologout timer must be at least 30 minutes. */
export const imapIdleTimeoutMsMin = 30 * 60_000;
/** SASL continuation line (AUTHENTICATE PLAIN without SASL-IR). */
export const imapSaslLineBytesMax = 2_048;

// ---- Server defaults (configurable, see config.ts) ----

/** Inactivity outside IDLE before `* BYE` and close. */
export const imapIdleTimeoutMsDefault = 30 * 60_000;
/** Longest IDLE before `* BYE` (clients re-IDLE every 29 minutes, RFC 2177). */
export const imapIdleMaxMsDefault = 35 * 60_000;
/** Time for a TLS handshake (implicit TLS or STARTTLS). */
export const imapTlsHandshakeTimeoutMsDefault = 30_000;
/** Time for the PROXY header when it is required. */
export const imapProxyHeaderTimeoutMsDefault = 5_000;
/** Connections open at once on one server. */
export const imapConnectionsMaxDefault = 10_000;
/** Connections open at once from one client address (IPv6: one /64). */
export const imapConnectionsPerIpMaxDefault = 100;
/** Authenticated sessions open at once for one account (Dovecot's mail_max_userip_connections is 10 per IP). */
export const imapConnectionsPerUserMaxDefault = 50;
/** Bad commands on one connection before `* BYE`. */
export const imapBadCommandsMaxDefault = 20;
/** Pause before answering a failed login. */
export const imapAuthFailureDelayMsDefault = 2_000;
/** Failed logins on one connection before `* BYE`. */
export const imapAuthFailuresPerConnectionMaxDefault = 3;
/** Failed logins from one address within the window before logins from it are refused. */
export const imapAuthFailuresPerIpMaxDefault = 10;
export const imapAuthFailureWindowMsDefault = 15 * 60_000;

// ---- Session and output shaping ----

/** Messages a session can have in view in one selected folder. */
export const imapSelectMessagesMax = 1_000_000;
/** Message records read from the store per query while loading or scanning a folder. */
export const imapStorePageMessages = 2_000;
/** Messages whose FETCH data is read and written per batch (bounds memory for FETCH 1:*). */
export const imapFetchBatchMessages = 200;
/** FETCH output buffered before it is written (a batch of large bodies is sent message by message). */
export const imapFetchFlushBytes = 1024 * 1024;
/** Pending changes one session remembers per kind; beyond, it rescans the folder at the next sync. */
export const imapPendingChangesMax = 10_000;
/** Folders listed by LIST. */
export const imapFoldersListedMax = 1_000;
/** How often an IDLE session re-checks for changes even without a notification (belt and braces). */
export const imapIdlePollMs = 5_000;
/** After our BYE, how long to wait for the client's FIN before closing hard. */
export const imapCloseLingerMs = 5_000;
