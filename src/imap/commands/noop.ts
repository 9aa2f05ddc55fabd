// NOOP (RFC 9051 §6.1.2): nothing to do; the session tells pending changes before the tagged OK.
// Must not touch the store.

import { none } from '../proto/commands.ts';
import { type CommandSpec, ok } from './spec.ts';

const anyState = ['notAuthenticated', 'authenticated', 'selected'] as const;

export const noop: CommandSpec<null> = {
  rfc: 'RFC 9051 §6.1.2',
  states: anyState,
  parse: none,
  async handle() {
    return ok('NOOP completed');
  },
};
