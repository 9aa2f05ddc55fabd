// The POP3 command table: every command's name mapped to its spec (states, parse, handle). The connection
// dispatches only through it; a keyword not in it is an unknown command.

import { type AuthArgs, auth } from './auth.ts';
import { capa } from './capa.ts';
import { dele } from './dele.ts';
import { list } from './list.ts';
import type { MessageArg, OptionalMessageArg } from './message-arg.ts';
import { noop } from './noop.ts';
import { type PassArgs, pass } from './pass.ts';
import { quit } from './quit.ts';
import { retr } from './retr.ts';
import { rset } from './rset.ts';
import type { CommandSpec } from './spec.ts';
import { stat } from './stat.ts';
import { stls } from './stls.ts';
import { type TopArgs, top } from './top.ts';
import { uidl } from './uidl.ts';
import { type UserArgs, user } from './user.ts';

/** Each command's parsed arguments. APOP is absent on purpose: we store argon2id hashes, not shared secrets. */
export interface CommandArgs {
  USER: UserArgs;
  PASS: PassArgs;
  AUTH: AuthArgs;
  CAPA: null;
  STLS: null;
  QUIT: null;
  STAT: null;
  LIST: OptionalMessageArg;
  RETR: MessageArg;
  DELE: MessageArg;
  NOOP: null;
  RSET: null;
  TOP: TopArgs;
  UIDL: OptionalMessageArg;
}

export type CommandName = keyof CommandArgs;

export type CommandTable = { readonly [K in CommandName]: CommandSpec<CommandArgs[K]> };

export const commandTable: CommandTable = {
  USER: user,
  PASS: pass,
  AUTH: auth,
  CAPA: capa,
  STLS: stls,
  QUIT: quit,
  STAT: stat,
  LIST: list,
  RETR: retr,
  DELE: dele,
  NOOP: noop,
  RSET: rset,
  TOP: top,
  UIDL: uidl,
};

export function isCommandName(keyword: string): keyword is CommandName {
  return Object.hasOwn(commandTable, keyword);
}
