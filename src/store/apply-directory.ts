// Apply for directory commands: tenants, domains, accounts, aliases. Deterministic.
// Reads and writes only through the Tx; no clock (time is the command's `at`), no randomness.

import { fail, ok, type ApplyResult } from './errors.ts';
import { keys } from './keys.ts';
import { storeLimits } from './limits.ts';
import { packr } from './tx.ts';
import type { Command } from './commands.ts';
import type { ApplyContext } from './apply.ts';
import { createFolderIn, deleteMessages } from './apply-mailbox.ts';
import {
  type AccountId,
  type AccountRecord,
  type AddressEntry,
  type DomainRecord,
  type TenantRecord,
  defaultFolders,
  domainOf,
  normalizeAddress,
} from './types.ts';

type Cmd<T extends Command['type']> = Extract<Command, { type: T }>;

/** The implicit tenant of a single-provider install. */
export const defaultTenant = 'default';

const addressPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/u;

function validAddress(address: string, allowCatchAll = false): boolean {
  if (Buffer.byteLength(address) > storeLimits.addressBytesMax) return false;
  return addressPattern.test(address) || (allowCatchAll && /^@[^\s@]+\.[^\s@]+$/u.test(address));
}

export async function createTenant(cx: ApplyContext, c: Cmd<'createTenant'>): Promise<ApplyResult<null>> {
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(c.id)) return fail('INVALID', `tenant id ${c.id} must be 1-63 of a-z, 0-9, -`);
  if (await cx.tx.get(keys.tenant(c.id))) return fail('EXISTS', `tenant ${c.id} exists`);
  cx.tx.put(keys.tenant(c.id), { id: c.id, name: c.name, createdAt: c.at } satisfies TenantRecord);
  return ok(null);
}

export async function createDomain(cx: ApplyContext, c: Cmd<'createDomain'>): Promise<ApplyResult<null>> {
  const name = c.name.toLowerCase();
  if (!/^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z0-9-]{1,63}$/u.test(name)) return fail('INVALID', `${c.name} is not a domain name`);
  if (await cx.tx.get(keys.domain(name))) return fail('EXISTS', `domain ${name} exists`);
  if (c.tenant !== defaultTenant && !(await cx.tx.get(keys.tenant(c.tenant)))) return fail('NOT_FOUND', `no tenant ${c.tenant}`);
  cx.tx.put(keys.domain(name), { name, tenant: c.tenant, createdAt: c.at } satisfies DomainRecord);
  return ok(null);
}

export async function deleteDomain(cx: ApplyContext, c: Cmd<'deleteDomain'>): Promise<ApplyResult<null>> {
  const name = c.name.toLowerCase();
  if (!(await cx.tx.get(keys.domain(name)))) return fail('NOT_FOUND', `no domain ${name}`);
  const users = await cx.tx.scan(keys.domainAddressPrefix(name), 1);
  if (users.length > 0) return fail('NOT_EMPTY', `domain ${name} still has addresses; remove them first`);
  cx.tx.del(keys.domain(name));
  for (const [k] of await cx.tx.scan(keys.domainSettingPrefix(name), storeLimits.settingsPerOwnerMax)) cx.tx.del(k);
  return ok(null);
}

const settingKeyPattern = /^[a-z][a-z0-9.-]{0,63}$/;

/** Puts or (value null) removes one setting under `key`, within the size and count limits. */
async function putSetting(cx: ApplyContext, prefix: string, key: string, value: unknown): Promise<ApplyResult<null>> {
  if (!settingKeyPattern.test(key)) return fail('INVALID', `setting key ${key} must be 1-64 of a-z, 0-9, '.', '-'`);
  const k = prefix + key;
  if (value === null || value === undefined) {
    cx.tx.del(k);
    return ok(null);
  }
  if (packr.pack(value).length > storeLimits.settingBytesMax) return fail('INVALID', `setting ${key} exceeds ${storeLimits.settingBytesMax} bytes`);
  if ((await cx.tx.get(k)) === undefined && (await cx.tx.scan(prefix, storeLimits.settingsPerOwnerMax)).length >= storeLimits.settingsPerOwnerMax) {
    return fail('INVALID', `at most ${storeLimits.settingsPerOwnerMax} settings`);
  }
  cx.tx.put(k, value);
  return ok(null);
}

export async function setDomainSetting(cx: ApplyContext, c: Cmd<'setDomainSetting'>): Promise<ApplyResult<null>> {
  const name = c.name.toLowerCase();
  if (!(await cx.tx.get(keys.domain(name)))) return fail('NOT_FOUND', `no domain ${name}`);
  return putSetting(cx, keys.domainSettingPrefix(name), c.key, c.value);
}

export async function setAccountSetting(cx: ApplyContext, c: Cmd<'setAccountSetting'>): Promise<ApplyResult<null>> {
  const a = await accountByAddress(cx, c.address);
  if (!a) return fail('NOT_FOUND', `no account ${c.address}`);
  return putSetting(cx, keys.accountSettingPrefix(a.id), c.key, c.value);
}

export async function createAccount(cx: ApplyContext, c: Cmd<'createAccount'>): Promise<ApplyResult<{ accountId: AccountId }>> {
  const address = normalizeAddress(c.address);
  if (!validAddress(address)) return fail('INVALID', `${c.address} is not an address`);
  const domain = await cx.tx.get<DomainRecord>(keys.domain(domainOf(address)));
  if (!domain) return fail('NOT_FOUND', `domain ${domainOf(address)} is not hosted here`);
  if (await cx.tx.get(keys.address(address))) return fail('EXISTS', `${address} exists`);
  if (!Number.isSafeInteger(c.quotaBytes) || c.quotaBytes < 0) return fail('INVALID', 'quota must be a non-negative integer of bytes');
  // The creating log index makes the id unique across the cluster and identical on every replica.
  const id = `a${cx.index.toString(36)}` as AccountId;
  let account: AccountRecord = {
    id,
    address,
    domain: domain.name,
    tenant: domain.tenant,
    passwordHash: c.passwordHash,
    quotaBytes: c.quotaBytes,
    usedBytes: 0,
    messages: 0,
    nextFolderId: 1,
    lastUidValidity: 0,
    createdAt: c.at,
  };
  for (const f of defaultFolders) account = createFolderIn(cx, account, f.name, f.specialUse, c.at);
  cx.tx.put(keys.account(id), account);
  cx.tx.put(keys.address(address), { kind: 'account', accountId: id } satisfies AddressEntry);
  cx.tx.put(keys.domainAddress(domain.name, address), 1);
  return ok({ accountId: id });
}

export async function accountByAddress(cx: ApplyContext, address: string): Promise<AccountRecord | undefined> {
  const entry = await cx.tx.get<AddressEntry>(keys.address(normalizeAddress(address)));
  if (entry?.kind !== 'account') return undefined;
  return cx.tx.get<AccountRecord>(keys.account(entry.accountId));
}

export async function setPassword(cx: ApplyContext, c: Cmd<'setPassword'>): Promise<ApplyResult<null>> {
  const a = await accountByAddress(cx, c.address);
  if (!a) return fail('NOT_FOUND', `no account ${c.address}`);
  cx.tx.put(keys.account(a.id), { ...a, passwordHash: c.passwordHash });
  return ok(null);
}

export async function setQuota(cx: ApplyContext, c: Cmd<'setQuota'>): Promise<ApplyResult<null>> {
  const a = await accountByAddress(cx, c.address);
  if (!a) return fail('NOT_FOUND', `no account ${c.address}`);
  if (!Number.isSafeInteger(c.quotaBytes) || c.quotaBytes < 0) return fail('INVALID', 'quota must be a non-negative integer of bytes');
  cx.tx.put(keys.account(a.id), { ...a, quotaBytes: c.quotaBytes });
  return ok(null);
}

export async function deleteAccount(cx: ApplyContext, c: Cmd<'deleteAccount'>): Promise<ApplyResult<null>> {
  const a = await accountByAddress(cx, c.address);
  if (!a) return fail('NOT_FOUND', `no account ${c.address}`);
  for (const [, f] of await cx.tx.scan<{ id: number; name: string }>(keys.folderPrefix(a.id), storeLimits.foldersPerAccountMax)) {
    await deleteMessages(cx, a.id, f.id as never, null);
    cx.tx.del(keys.folder(a.id, f.id as never));
    cx.tx.del(keys.folderName(a.id, f.name));
  }
  cx.tx.del(keys.account(a.id));
  for (const [k] of await cx.tx.scan(keys.accountSettingPrefix(a.id), storeLimits.settingsPerOwnerMax)) cx.tx.del(k);
  cx.tx.del(keys.address(a.address));
  cx.tx.del(keys.domainAddress(a.domain, a.address));
  return ok(null);
}

export async function addAlias(cx: ApplyContext, c: Cmd<'addAlias'>): Promise<ApplyResult<null>> {
  const address = normalizeAddress(c.address);
  if (!validAddress(address, true)) return fail('INVALID', `${c.address} is not an address or @domain`);
  if (!(await cx.tx.get(keys.domain(domainOf(address))))) return fail('NOT_FOUND', `domain ${domainOf(address)} is not hosted here`);
  if (await cx.tx.get(keys.address(address))) return fail('EXISTS', `${address} exists`);
  const targets = [...new Set(c.targets.map(normalizeAddress))];
  if (targets.length === 0 || targets.length > storeLimits.aliasTargetsMax) {
    return fail('INVALID', `an alias needs 1 to ${storeLimits.aliasTargetsMax} targets`);
  }
  const bad = targets.find((t) => !validAddress(t));
  if (bad !== undefined) return fail('INVALID', `target ${bad} is not an address`);
  cx.tx.put(keys.address(address), { kind: 'alias', targets } satisfies AddressEntry);
  cx.tx.put(keys.domainAddress(domainOf(address), address), 1);
  return ok(null);
}

export async function removeAlias(cx: ApplyContext, c: Cmd<'removeAlias'>): Promise<ApplyResult<null>> {
  const address = normalizeAddress(c.address);
  const entry = await cx.tx.get<AddressEntry>(keys.address(address));
  if (entry?.kind !== 'alias') return fail('NOT_FOUND', `no alias ${address}`);
  cx.tx.del(keys.address(address));
  cx.tx.del(keys.domainAddress(domainOf(address), address));
  return ok(null);
}
