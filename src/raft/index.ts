// Public surface of the Raft subsystem: the pure core, its storage contract and its types.
// Knows nothing of mail; drivers (sim, LevelDB + TCP) live beside it and import from here.

export * from './types.ts';
export * from './errors.ts';
export { type RaftConfig, validateConfig } from './config.ts';
export { type Storage, type DurableStorage, type DurableWrite, MemoryStorage } from './storage.ts';
export { MemoryDurableStorage } from './memory-durable-storage.ts';
export { type Random, seededRandom } from './random.ts';
export { Raft, type Role, encodeConfChange, decodeConfChange } from './raft.ts';
export { RawNode, type Ready, type SoftState, type Status } from './raw-node.ts';
export type { ReadState } from './read-only.ts';
export {
  RaftDriver,
  type RaftDriverOptions,
  type StateMachine,
  type AppliedCommand,
  type DriverLimits,
  type DriverStatus,
  type Timers,
  driverLimitsDefault,
  systemTimers,
} from './driver.ts';
export { type Transport, MemoryNetwork } from './transport.ts';
