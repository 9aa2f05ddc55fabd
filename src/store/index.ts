// Public surface of the store: the Store facade, its commands, queries, records and errors.
// Front ends import from here only.

export {
  Store,
  type StoreOptions,
  type CommandInput,
  type StoreClusterOptions,
  type StoreLogger,
  type StoreStatus,
  type MemberStatus,
  type NodeReport,
} from './store.ts';
export { replicationLimits } from './replication-limits.ts';
export type { Command, FlagOp } from './commands.ts';
export { StoreError, type StoreErrorCode } from './errors.ts';
export { StoreQueries } from './queries.ts';
export { storeLimits } from './limits.ts';
export { defaultTenant } from './apply-directory.ts';
export type { AppendResult, CopyResult, SetFlagsResult } from './apply-mailbox.ts';
export * from './types.ts';
