// CAPABILITY (RFC 9051 §6.1.1): what this server speaks, which depends on TLS and login state.
// Pure list building; no store.

import { none } from '../proto/commands.ts';
import { type CommandSpec, type Session, ok } from './spec.ts';

const always = [
  'IMAP4rev2', 'IMAP4rev1', 'LITERAL+', 'SASL-IR', 'ENABLE', 'ID', 'IDLE', 'NAMESPACE', 'UNSELECT', 'UIDPLUS', 'CHILDREN',
  'LIST-EXTENDED', 'LIST-STATUS', 'SPECIAL-USE', 'MOVE', 'CONDSTORE', 'QRESYNC', 'ESEARCH', 'SEARCHRES', 'WITHIN', 'SORT',
  'SORT=DISPLAY', 'THREAD=REFERENCES', 'THREAD=ORDEREDSUBJECT', 'QUOTA', 'QUOTA=RES-STORAGE',
  'MULTIAPPEND', 'BINARY', 'OBJECTID', 'STATUS=SIZE',
];

export function capabilityLine(s: Session): string {
  const caps = [...always, `APPENDLIMIT=${s.config.appendLimitBytes}`];
  if (!s.compressed) caps.push('COMPRESS=DEFLATE');
  if (s.state === 'notAuthenticated') {
    if (s.tlsAvailable) caps.push('STARTTLS');
    if (s.plaintextAuthAllowed) caps.push('AUTH=PLAIN');
    else caps.push('LOGINDISABLED');
  }
  return caps.join(' ');
}

export const capability: CommandSpec<null> = {
  rfc: 'RFC 9051 §6.1.1',
  states: ['notAuthenticated', 'authenticated', 'selected'],
  parse: none,
  async handle(s) {
    await s.send(`* CAPABILITY ${capabilityLine(s)}\r\n`);
    return ok('CAPABILITY completed');
  },
};
