// ID (RFC 2971): logs what the client says about itself and names the server.
// Never logs more than ten fields; never echoes them.

import { id as parseId } from '../proto/commands.ts';
import { str } from '../proto/encode.ts';
import { type CommandSpec, ok } from './spec.ts';

const anyState = ['notAuthenticated', 'authenticated', 'selected'] as const;

export const id: CommandSpec<[string, string | null][] | null> = {
  rfc: 'RFC 2971',
  states: anyState,
  parse: parseId,
  async handle(s, params) {
    if (params) s.log.info({ event: 'client-id', id: Object.fromEntries(params.slice(0, 10)) }, 'client ID');
    await s.send(['* ID (', ...str('name', s.encodeOptions), ' ', ...str('stormo', s.encodeOptions), ')\r\n']);
    return ok('ID completed');
  },
};
