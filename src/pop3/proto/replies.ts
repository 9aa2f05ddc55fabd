// Every POP3 status line the server sends, named, with the RFC that defines it. Texts follow RFC 1939's
// examples where it gives them. Pure values and builders: no I/O; never a client secret in a text.

import { type Reply, err, ok } from './reply.ts';

// ---- Connection (RFC 1939 §4, RFC 2449 §8, RFC 3206 §4) ----

/** RFC 1939 §4. No APOP timestamp: APOP is not offered (passwords are stored as argon2id hashes). */
export const greeting = (serverName: string): Reply => ok(`${serverName} POP3 server ready`);
/** RFC 3206 §4: refused before the greeting; the client should retry later. */
export const tooManyConnections = err('SYS/TEMP', 'too many connections, try again later');
export const tooManyConnectionsFromAddress = err('SYS/TEMP', 'too many connections from your address, try again later');
export const shuttingDown = err('SYS/TEMP', 'server shutting down, try again later');
/** STYLE: an internal error is logged once and becomes a temporary failure, never echoed. */
export const internalError = err('SYS/TEMP', 'temporary failure, try again later');

// ---- Bad input (RFC 1939 §3: "-ERR" for unrecognized, unimplemented or syntactically invalid commands) ----

export const unknownCommand = err(undefined, 'unknown command');
export const emptyCommand = err(undefined, 'empty command');
export const invalidCharacters = err(undefined, 'invalid characters in command');
/** RFC 2449 §4: commands are at most 255 octets. */
export const lineTooLong = err(undefined, 'line too long');
export const wrongState = err(undefined, 'command not valid in this state');
export const syntax = (usage: string): Reply => err(undefined, `syntax: ${usage}`);
export const tooManyBadCommands = err(undefined, 'too many invalid commands, closing connection');

// ---- AUTHORIZATION (RFC 1939 §7, RFC 5034 §4, RFC 2595 §4, RFC 3206 §5, RFC 2449 §8.1) ----

/** RFC 1939 §7 USER. Said for every name: refusing unknown names would let anyone enumerate accounts. */
export const userAccepted = ok('send PASS');
/** RFC 1939 §7 PASS without a USER first. */
export const noUserGiven = err(undefined, 'no username given');
/**
 * RFC 2595 §2.3 and RFC 5034: plaintext passwords only over TLS unless configured otherwise. RFC 3206 §5:
 * [AUTH] covers "an attempt to authenticate in violation of policy". Text as Dovecot (disable_plaintext_auth).
 */
export const plaintextDisallowed = err('AUTH', 'Plaintext authentication disallowed on non-secure (SSL/TLS) connections.');
/** RFC 3206 §5: wrong user name or password (which one is not said). */
export const authFailed = err('AUTH', 'authentication failed');
/** RFC 3206 §5: the credentials were right but the account may not log in now (disabled, policy). */
export const accountRefused = err('AUTH', 'account may not log in');
/** RFC 3206 §5 ("from an invalid location"): this address failed too often recently. */
export const authBlocked = err('AUTH', 'too many failed logins from your address, try again later');
/** RFC 2449 §8.1 LOGIN-DELAY. */
export const loginDelay = err('LOGIN-DELAY', 'logged in too recently, try again later');
/** RFC 2449 §8.1 IN-USE: the maildrop is locked by another session (RFC 1939 §7 PASS: "maildrop already locked"). */
export const maildropInUse = err('IN-USE', 'maildrop already locked');
/** RFC 3206 §4: the store is unavailable for now (no quorum, leader election). */
export const temporarilyUnavailable = err('SYS/TEMP', 'mailbox temporarily unavailable, try again later');
/** RFC 3206 §4: a problem that needs an operator. */
export const permanentlyUnavailable = err('SYS/PERM', 'mailbox unavailable');
/** RFC 1939 §7 PASS example: "+OK mrose's maildrop has 2 messages (320 octets)". */
export const maildropReady = (user: string, count: number, octets: number): Reply => ok(`${user}'s maildrop has ${count} messages (${octets} octets)`);

/** RFC 5034 §4: mechanism not supported. */
export const saslUnsupportedMechanism = err(undefined, 'unsupported authentication mechanism');
/** RFC 5034 §4: the client answered "*". */
export const saslCancelled = err(undefined, 'authentication cancelled');
/** RFC 5034 §4: a response that is not base64, or (RFC 4616) not a PLAIN message. */
export const saslMalformed = err(undefined, 'malformed authentication response');
/** RFC 4616 §2: we do not let one identity act as another (no master users). */
export const saslAuthzidRefused = err('AUTH', 'authorization identity not permitted');
/** "AUTH" with no argument: the mechanisms follow (RFC 1734 practice, kept by Dovecot and Outlook). */
export const saslMechanismsFollow = ok('methods supported');

/** RFC 2595 §4. */
export const stlsBegin = ok('Begin TLS negotiation');
/** RFC 2595 §4: STLS after TLS is active. */
export const stlsAlreadyActive = err(undefined, 'command not permitted when TLS active');
export const stlsUnavailable = err(undefined, 'TLS not available');

/** RFC 2449 §5. */
export const capabilitiesFollow = ok('capability list follows');

// ---- TRANSACTION (RFC 1939 §5, §7) ----

/** RFC 1939 §5 STAT: "+OK nn mm". */
export const dropListing = (count: number, octets: number): Reply => ok(`${count} ${octets}`);
/** RFC 1939 §5 LIST, multi-line: "+OK 2 messages (320 octets)". */
export const scanListingFollows = (count: number, octets: number): Reply => ok(`${count} messages (${octets} octets)`);
/** RFC 1939 §5 LIST msg / §7 UIDL msg: "+OK 2 200", "+OK 2 QhdPYR:00WBw1Ph7x7". */
export const singleListing = (n: number, value: number | string): Reply => ok(`${n} ${value}`);
/** RFC 1939 §5: "-ERR no such message, only 2 messages in maildrop" (also for a message marked deleted). */
export const noSuchMessage = (count: number): Reply => err(undefined, `no such message, only ${count} messages in maildrop`);
/** RFC 1939 §5 RETR: "+OK 120 octets". */
export const messageFollows = (octets: number): Reply => ok(`${octets} octets`);
/** RFC 1939 §7 TOP. */
export const topFollows = ok('top of message follows');
/** RFC 1939 §7 UIDL. */
export const uniqueIdListingFollows = ok('unique-id listing follows');
/** RFC 1939 §5 DELE. */
export const messageDeleted = (n: number): Reply => ok(`message ${n} deleted`);
export const messageAlreadyDeleted = (n: number): Reply => err(undefined, `message ${n} already deleted`);
/** RFC 1939 §5 NOOP. */
export const noop = ok('');
/** RFC 1939 §5 RSET: "+OK maildrop has 2 messages (320 octets)". */
export const maildropReset = (count: number, octets: number): Reply => ok(`maildrop has ${count} messages (${octets} octets)`);

// ---- QUIT and UPDATE (RFC 1939 §4, §6) ----

/** RFC 1939 §4 QUIT in AUTHORIZATION. */
export const signingOff = (serverName: string): Reply => ok(`${serverName} POP3 server signing off`);
/** RFC 1939 §6 QUIT after a successful UPDATE: "(maildrop empty)" or "(2 messages left)". */
export const signingOffAfterUpdate = (serverName: string, left: number): Reply =>
  ok(`${serverName} POP3 server signing off (${left === 0 ? 'maildrop empty' : `${left} messages left`})`);
/** RFC 1939 §6 "-ERR some deleted messages not removed", RFC 3206 §4 [SYS/TEMP]: the store removed none of them. */
export const updateFailed = err('SYS/TEMP', 'some deleted messages not removed');
