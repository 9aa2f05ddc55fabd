// Per-domain and per-user washer settings, stored as the store setting `filter`: their shapes (zod) and their reading.
// Validation and lookup only: the store keeps the value as plain data; admin/server.ts writes it through these schemas.

import { z } from 'zod';
import { filterLimits } from './limits.ts';

/** The store setting key for both domains and accounts. */
export const filterSettingKey = 'filter';

const score = z.number().finite().min(-1000).max(10_000);
/**
 * An allow/block list entry: `user@example.com` (one address), `example.com` or `@example.com`
 * (the domain and its subdomains). Matched against the envelope sender and the From header.
 */
const listEntry = z
  .string()
  .min(1)
  .max(320)
  .regex(/^(?:[^\s@]+@)?@?[a-z0-9.-]+$/i, 'must be an address, a domain or @domain')
  .transform((s) => s.toLowerCase());
const list = z.array(listEntry).max(filterLimits.listEntriesMax);

export const domainFilterSettingsSchema = z
  .object({
    junkScore: score.optional(),
    rejectScore: score.optional(),
    /** What a DNSBL listing with action `reject` does for this domain's recipients: reject, score only, or nothing. */
    dnsblAction: z.enum(['reject', 'score', 'off']).optional(),
    /** Honour DMARC p=reject/p=quarantine for this domain's recipients. */
    enforceDmarc: z.boolean().optional(),
    /** Count reverse-DNS and HELO hygiene in this domain's recipients' scores. */
    clientChecks: z.boolean().optional(),
    spamScan: z.boolean().optional(),
    virusScan: z.boolean().optional(),
    /** Overrides both scanners' fail mode for this domain's recipients. */
    failMode: z.enum(['open', 'closed']).optional(),
    allow: list.optional(),
    block: list.optional(),
  })
  .strict()
  .refine((s) => s.junkScore === undefined || s.rejectScore === undefined || s.rejectScore >= s.junkScore, { message: 'rejectScore must be >= junkScore' });

export const userFilterSettingsSchema = z
  .object({
    junkScore: score.optional(),
    rejectScore: score.optional(),
    /** Senders always delivered to INBOX (viruses are still refused). */
    allow: list.optional(),
    /** Senders always refused (554 5.7.1). */
    block: list.optional(),
  })
  .strict()
  .refine((s) => s.junkScore === undefined || s.rejectScore === undefined || s.rejectScore >= s.junkScore, { message: 'rejectScore must be >= junkScore' });

export type DomainFilterSettings = z.output<typeof domainFilterSettingsSchema>;
export type UserFilterSettings = z.output<typeof userFilterSettingsSchema>;

/** A stored value that no longer parses (written by an older version, say) counts as unset: logged by the caller. */
export function parseDomainSettings(v: unknown): DomainFilterSettings | null {
  if (v === undefined || v === null) return {};
  const r = domainFilterSettingsSchema.safeParse(v);
  return r.success ? r.data : null;
}

export function parseUserSettings(v: unknown): UserFilterSettings | null {
  if (v === undefined || v === null) return {};
  const r = userFilterSettingsSchema.safeParse(v);
  return r.success ? r.data : null;
}

/** True when `sender` (an address, lower case) matches an entry: the address itself, or its domain or a parent domain. */
export function listMatches(entries: readonly string[] | undefined, sender: string): string | null {
  if (entries === undefined || sender === '') return null;
  const s = sender.toLowerCase();
  const at = s.lastIndexOf('@');
  const domain = at >= 0 ? s.slice(at + 1) : s;
  for (const e of entries) {
    if (e.includes('@') && !e.startsWith('@')) {
      if (e === s) return e;
      continue;
    }
    const d = e.startsWith('@') ? e.slice(1) : e;
    if (domain === d || domain.endsWith(`.${d}`)) return e;
  }
  return null;
}
