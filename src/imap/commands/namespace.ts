// NAMESPACE (RFC 2342, RFC 9051 §6.3.10): one personal namespace, "" with delimiter "/".
// No shared or other users' namespaces here.

import { none } from '../proto/commands.ts';
import { type CommandSpec, ok } from './spec.ts';

const authed = ['authenticated', 'selected'] as const;

export const namespace: CommandSpec<null> = {
  rfc: 'RFC 2342, RFC 9051 §6.3.10',
  states: authed,
  parse: none,
  async handle(s) {
    await s.send('* NAMESPACE (("" "/")) NIL NIL\r\n');
    return ok('NAMESPACE completed');
  },
};
