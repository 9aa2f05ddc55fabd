// The command table: every IMAP command by name with its allowed states, parser and handler.
// Dispatch looks names up here (never by string concatenation); UID forms share their command's entry.

import { append } from './append.ts';
import { authenticate, login } from './auth.ts';
import { capability } from './capability.ts';
import { copy, move } from './copy.ts';
import { expunge } from './expunge.ts';
import { fetch } from './fetch.ts';
import { create } from './create.ts';
import { del } from './delete.ts';
import { rename } from './rename.ts';
import { subscribe, unsubscribe } from './subscribe.ts';
import { list, lsub } from './list.ts';
import { getquota, getquotaroot } from './quota.ts';
import { examine, select } from './select.ts';
import { search } from './search.ts';
import { check } from './check.ts';
import { close } from './close.ts';
import { compress } from './compress.ts';
import { enable } from './enable.ts';
import { id } from './id.ts';
import { idle } from './idle.ts';
import { logout } from './logout.ts';
import { namespace } from './namespace.ts';
import { noop } from './noop.ts';
import { starttls } from './starttls.ts';
import { unselect } from './unselect.ts';
import { sort } from './sort.ts';
import type { CommandSpec } from './spec.ts';
import { status } from './status.ts';
import { store } from './store.ts';
import { thread } from './thread.ts';

export const commandTable = {
  CAPABILITY: capability,
  NOOP: noop,
  LOGOUT: logout,
  STARTTLS: starttls,
  AUTHENTICATE: authenticate,
  LOGIN: login,
  ENABLE: enable,
  ID: id,
  NAMESPACE: namespace,
  COMPRESS: compress,
  LIST: list,
  LSUB: lsub,
  CREATE: create,
  DELETE: del,
  RENAME: rename,
  SUBSCRIBE: subscribe,
  UNSUBSCRIBE: unsubscribe,
  STATUS: status,
  SELECT: select,
  EXAMINE: examine,
  APPEND: append,
  IDLE: idle,
  GETQUOTA: getquota,
  GETQUOTAROOT: getquotaroot,
  CHECK: check,
  CLOSE: close,
  UNSELECT: unselect,
  EXPUNGE: expunge,
  SEARCH: search,
  SORT: sort,
  THREAD: thread,
  FETCH: fetch,
  STORE: store,
  COPY: copy,
  MOVE: move,
// Each entry keeps its own argument type; the table only checks that every entry is a CommandSpec.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
} satisfies Record<string, CommandSpec<any>>;

export type CommandName = keyof typeof commandTable;

export function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(commandTable, name);
}
