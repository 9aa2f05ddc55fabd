// LOGOUT (RFC 9051 §6.1.3): says BYE and ends the session after the tagged OK.
// Must not touch the store.

import { none } from '../proto/commands.ts';
import { type CommandSpec, ok } from './spec.ts';

const anyState = ['notAuthenticated', 'authenticated', 'selected'] as const;

export const logout: CommandSpec<null> = {
  rfc: 'RFC 9051 §6.1.3',
  states: anyState,
  parse: none,
  async handle(s) {
    await s.send('* BYE Logging out\r\n');
    s.state = 'logout';
    s.end();
    return ok('LOGOUT completed');
  },
};
