// UNSELECT (RFC 3691, RFC 9051 §6.4.2): leaves the selected state without expunging.
// Must not touch the store.

import { none } from '../proto/commands.ts';
import { type CommandSpec, ok } from './spec.ts';

export const unselect: CommandSpec<null> = {
  rfc: 'RFC 3691, RFC 9051 §6.4.2',
  states: ['selected'],
  parse: none,
  async handle(s) {
    s.setView(null);
    return ok('UNSELECT completed');
  },
};
