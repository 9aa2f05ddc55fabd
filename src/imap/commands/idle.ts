// IDLE (RFC 2177, RFC 9051 §6.3.13): the connection tells changes as they come until DONE.
// All the work is in the connection (it owns the socket and the wake-ups).

import { none } from '../proto/commands.ts';
import { type CommandSpec } from './spec.ts';

const authed = ['authenticated', 'selected'] as const;

export const idle: CommandSpec<null> = {
  rfc: 'RFC 2177, RFC 9051 §6.3.13',
  states: authed,
  parse: none,
  handle(s, _args, call) {
    return s.idle(call.tag);
  },
};
