// STARTTLS (RFC 9051 §6.2.1): the handshake starts after the tagged OK (the connection runs it).
// Must not read past the command: pipelined input is discarded by the connection.

import { none } from '../proto/commands.ts';
import { type CommandSpec, bad, ok } from './spec.ts';

export const starttls: CommandSpec<null> = {
  rfc: 'RFC 9051 §6.2.1',
  states: ['notAuthenticated'],
  parse: none,
  async handle(s) {
    if (!s.tlsAvailable) return bad(s.secure ? 'TLS is already active' : 'TLS is not available');
    s.afterReply('starttls');
    return ok('Begin TLS negotiation now');
  },
};
