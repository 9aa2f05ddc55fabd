// LOGIN (RFC 9051 §6.2.3) and AUTHENTICATE PLAIN (RFC 9051 §6.2.2, RFC 4616, SASL-IR RFC 4959): check the
// password through the store, apply the failure delay and limits. Never logs the password.

import { errorFields } from '../../net/logger.ts';
import { decodeBase64Strict, decodePlain } from '../../net/sasl-plain.ts';
import { checkLogin } from '../../store/login.ts';
import { imapSaslLineBytesMax } from '../limits.ts';
import { type AuthenticateArgs, type LoginArgs, authenticate as parseAuthenticate, login as parseLogin } from '../proto/commands.ts';
import { capabilityLine } from './capability.ts';
import { type Completion, type CommandSpec, type Session, bad, no, ok } from './spec.ts';

async function verify(s: Session, user: string, password: string, mechanism: string): Promise<Completion> {
  if (s.authBlocked()) {
    s.log.warn({ event: 'auth-blocked', user, mechanism }, 'login refused: too many failures from this address');
    await s.send('* BYE Too many failed logins from your address\r\n');
    s.end();
    return no('Too many failed logins', 'UNAVAILABLE');
  }
  let account;
  try {
    account = await checkLogin(s.store.queries, user, password);
  } catch (e) {
    s.log.error({ event: 'auth-error', user, mechanism, ...errorFields(e) }, 'checking a login failed');
    return no('Temporary failure, try again', 'UNAVAILABLE');
  }
  if (!s.open) return no('Connection closing');
  if (account === null) {
    const { closeAfterReply } = await s.authFailed();
    s.log.warn({ event: 'auth-failed', user, mechanism, closing: closeAfterReply }, 'wrong credentials');
    if (closeAfterReply) {
      await s.send('* BYE Too many failed logins\r\n');
      s.end();
    }
    return no('Invalid credentials', 'AUTHENTICATIONFAILED');
  }
  if (!s.loggedIn(account)) {
    s.log.warn({ event: 'auth-refused', user, reason: 'connections-per-user-max' }, 'too many sessions for this account');
    return no('Too many sessions for this account', 'LIMIT');
  }
  s.log.info({ event: 'auth-ok', user, accountId: account.id, mechanism }, 'logged in');
  return ok('Logged in', `CAPABILITY ${capabilityLine(s)}`);
}

export const login: CommandSpec<LoginArgs> = {
  rfc: 'RFC 9051 §6.2.3',
  states: ['notAuthenticated'],
  parse: parseLogin,
  async handle(s, a) {
    if (!s.plaintextAuthAllowed) return no('LOGIN needs TLS first (STARTTLS)', 'PRIVACYREQUIRED');
    return verify(s, a.user, a.password, 'LOGIN');
  },
};

export const authenticate: CommandSpec<AuthenticateArgs> = {
  rfc: 'RFC 9051 §6.2.2, RFC 4959',
  states: ['notAuthenticated'],
  parse: parseAuthenticate,
  async handle(s, a) {
    if (a.mechanism !== 'PLAIN') return no(`Unsupported mechanism ${a.mechanism.slice(0, 20)}`, 'CANNOT');
    if (!s.plaintextAuthAllowed) return no('AUTHENTICATE PLAIN needs TLS first (STARTTLS)', 'PRIVACYREQUIRED');
    let response = a.initial;
    if (response === null) {
      await s.send('+ \r\n');
      const line = await s.readLine(imapSaslLineBytesMax);
      if (line === undefined) return null;
      response = line.toString('latin1');
      if (response === '*') return bad('Authentication cancelled');
    }
    const bytes = response === '=' ? new Uint8Array(0) : decodeBase64Strict(response);
    if (bytes === undefined) return bad('Invalid base64');
    const plain = decodePlain(bytes);
    if (!plain.ok) return bad(`Malformed PLAIN response (${plain.error})`);
    const { authzid, authcid, password } = plain.credentials;
    if (authzid !== '' && authzid.toLowerCase() !== authcid.toLowerCase()) return no('Acting as another user is not allowed', 'AUTHORIZATIONFAILED');
    return verify(s, authcid, password, 'PLAIN');
  },
};
