// CHECK (RFC 3501 §6.4.1, gone from RFC 9051): kept as a NOOP for IMAP4rev1 clients.
// Must not touch the store.

import { none } from '../proto/commands.ts';
import { type CommandSpec, ok } from './spec.ts';

export const check: CommandSpec<null> = {
  rfc: 'RFC 3501 §6.4.1 (removed in RFC 9051, kept as NOOP)',
  states: ['selected'],
  parse: none,
  async handle() {
    return ok('CHECK completed');
  },
};
