// Every limit of the POP3 front end, named with its unit; configuration defaults come from here.
// Constants only: no logic and no imports, so protocol code and the server can share them freely.

// ---- Protocol (fixed by RFCs) ----

/** RFC 2449 §4: a command line is at most 255 octets, including the terminating CRLF. */
export const pop3CommandLineBytesMax = 255;
/** RFC 2449 §4: the first line of a response (and the greeting) is at most 512 octets, including CRLF. */
export const pop3ResponseLineBytesMax = 512;
/**
 * A client's SASL continuation line (RFC 5034 §4), including CRLF. It is not a command, so the 255-octet
 * limit does not bind it; PLAIN with RFC 4616's 255-octet fields needs 1 024 octets of base64.
 */
export const pop3SaslResponseLineBytesMax = 2_048;
/** RFC 1939 §7 (UIDL): a unique-id is 1 to 70 characters in 0x21..0x7E. */
export const pop3UidlCharsMax = 70;
/** Digits accepted in a message number or a TOP line count; more is a syntax error. */
export const pop3NumberDigitsMax = 10;
/** RFC 1939 §3: an inactivity autologout timer, if any, MUST be at least 10 minutes. */
export const pop3IdleTimeoutMsMin = 600_000;

// ---- Server defaults (configurable, see config.ts) ----

/** Inactivity before the connection is closed silently, without UPDATE (RFC 1939 §3). */
export const pop3IdleTimeoutMsDefault = 600_000;
/** Time for a TLS handshake (implicit TLS or after STLS) to complete. */
export const pop3TlsHandshakeTimeoutMsDefault = 30_000;
/** Time for the PROXY header to arrive when it is required. */
export const pop3ProxyHeaderTimeoutMsDefault = 5_000;
/** Connections open at once on one server (all listeners). */
export const pop3ConnectionsMaxDefault = 10_000;
/** Connections open at once from one client address (IPv6: one /64). */
export const pop3ConnectionsPerIpMaxDefault = 50;
/** Unknown, malformed, overlong or wrong-state commands on one connection before it is closed. */
export const pop3BadCommandsMaxDefault = 10;
/** Pause before answering a failed authentication (slows guessing; the connection reads nothing meanwhile). */
export const pop3AuthFailureDelayMsDefault = 2_000;
/** Failed authentications on one connection before it is closed. */
export const pop3AuthFailuresPerConnectionMaxDefault = 3;
/** Failed authentications from one client address within the window before further attempts are refused. */
export const pop3AuthFailuresPerIpMaxDefault = 10;
/** Sliding window over which per-address failures are counted. */
export const pop3AuthFailureWindowMsDefault = 15 * 60_000;
/** After our FIN (QUIT, refusals), how long to wait for the client's before closing hard. */
export const pop3CloseLingerMs = 5_000;

// ---- Output shaping ----

/** Lines of a LIST/UIDL listing serialized per socket write (keeps one write bounded for huge maildrops). */
export const pop3ListingLinesPerWrite = 1_000;
