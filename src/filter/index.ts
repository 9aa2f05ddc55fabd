// Public surface of the washer: createWasher for the composition root, the learner for IMAP, schemas for the admin API.
// Re-exports and the one factory; importers outside src/filter use this file.

import { FilterConfigError, parseFilterConfig, type FilterConfig } from './config.ts';
import { Washer, type WasherDeps } from './washer.ts';

export { filterConfigSchema, parseFilterConfig, FilterConfigError, type FilterConfig, type FilterConfigInput } from './config.ts';
export { createJunkLearner, type JunkLearner } from './learner.ts';
export { FilterError, isFilterError, type FilterErrorCode } from './errors.ts';
export { domainFilterSettingsSchema, userFilterSettingsSchema, filterSettingKey, type DomainFilterSettings, type UserFilterSettings } from './settings.ts';
export { Washer, type WasherDeps, type FilterSettingsReader } from './washer.ts';
export { filterLimits } from './limits.ts';

export interface CreateWasherDeps extends WasherDeps {
  /** The SMTP front end's backendCallTimeoutMs: the washer's DATA deadline must be below it. */
  readonly smtpBackendCallTimeoutMs?: number | undefined;
}

/**
 * Builds the washer from raw (or parsed) config. Throws FilterConfigError when the config is
 * invalid or its DATA deadline would outlast the SMTP front end's wait for the hook.
 */
export function createWasher(config: unknown, deps: CreateWasherDeps): Washer {
  const c: FilterConfig = parseFilterConfig(config);
  const frontEndMs = deps.smtpBackendCallTimeoutMs;
  if (frontEndMs !== undefined && c.dataDeadlineMs >= frontEndMs) {
    throw new FilterConfigError(`filter config: dataDeadlineMs (${c.dataDeadlineMs}) must be below the SMTP backendCallTimeoutMs (${frontEndMs})`);
  }
  return new Washer(c, deps);
}
