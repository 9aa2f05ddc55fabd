// The washer's node configuration: one zod schema, every field documented with its unit and default.
// Validation only: nothing here connects anywhere; createWasher (washer.ts) builds the clients from it.

import { z } from 'zod';
import { filterLimits } from './limits.ts';

const host = z.string().min(1).max(253);
const port = z.number().int().min(1).max(65535);
const timeoutMs = z.number().int().min(1).max(600_000);
/** open: deliver, marked unscanned in headers and record. closed: 451 4.7.1, the sender retries. */
const failMode = z.enum(['open', 'closed']);
const score = z.number().finite().min(-1000).max(10_000);

export const dnsblZoneSchema = z
  .object({
    /** The list's DNS zone, e.g. `zen.spamhaus.org`: a client a.b.c.d is looked up as `d.c.b.a.<zone>`. */
    zone: host,
    /** Points added to the message's score when the client is listed. Default 5. */
    weight: score.default(5),
    /** reject: `554 5.7.1` at RCPT naming the list (a domain may turn it into `score`); score: only add the weight. */
    action: z.enum(['reject', 'score']).default('score'),
  })
  .strict();

export const filterConfigSchema = z
  .object({
    /** Host name in Authentication-Results (RFC 8601 authserv-id). Default: the SMTP host name. */
    authservId: host.optional(),
    /** DNS servers for DNSBL, reverse DNS and SPF/DKIM/DMARC (`ip` or `ip:port`). Default: the system's. */
    dnsServers: z.array(z.string().min(1).max(64)).max(8).optional(),
    /** One DNS query's timeout, ms. Default 2000. */
    dnsTimeoutMs: timeoutMs.default(filterLimits.dnsTimeoutMs),
    /** The whole check after DATA, ms; must stay below the front end's backendCallTimeoutMs. Default 20 000. */
    dataDeadlineMs: timeoutMs.default(filterLimits.dataDeadlineMs),
    spam: z
      .object({
        /** spamd (SpamAssassin, the field reports' tool), rspamd (faster), or none. Default none. */
        engine: z.enum(['spamd', 'rspamd', 'none']).default('none'),
        spamd: z.object({ host: host.default('127.0.0.1'), port: port.default(783) }).strict().optional(),
        rspamd: z
          .object({
            host: host.default('127.0.0.1'),
            /** The normal worker (/checkv2). Default 11333. */
            port: port.default(11333),
            /** The controller worker (/learnspam, /learnham). Default 11334. */
            controllerPort: port.default(11334),
            /** The controller's password (`Password:` header); required for learning. */
            password: z.string().max(256).optional(),
          })
          .strict()
          .optional(),
        timeoutMs: timeoutMs.default(filterLimits.scannerTimeoutMs),
        failMode: failMode.default('open'),
        /** Messages larger than this are not scored (spamc's -s default is 500 KB). Default 2 MiB. */
        scanBytesMax: z.number().int().min(1024).max(100 * 1024 * 1024).default(2 * 1024 * 1024),
      })
      .strict()
      .default({ engine: 'none', timeoutMs: filterLimits.scannerTimeoutMs, failMode: 'open', scanBytesMax: 2 * 1024 * 1024 }),
    antivirus: z
      .object({
        engine: z.enum(['clamd', 'none']).default('none'),
        clamd: z.object({ host: host.default('127.0.0.1'), port: port.default(3310) }).strict().optional(),
        timeoutMs: timeoutMs.default(filterLimits.scannerTimeoutMs),
        failMode: failMode.default('open'),
      })
      .strict()
      .default({ engine: 'none', timeoutMs: filterLimits.scannerTimeoutMs, failMode: 'open' }),
    /** DNS blocklists, looked up at connect for clients of the MX (never for authenticated submission). */
    dnsbl: z.array(dnsblZoneSchema).max(16).default([]),
    /** SPF, DKIM, DMARC and ARC with mailauth, MX only. */
    auth: z
      .object({
        enabled: z.boolean().default(true),
        /** Honour DMARC p=reject (refuse 550 5.7.1) and p=quarantine (Junk). A domain setting may turn it off. Default true. */
        enforceDmarc: z.boolean().default(true),
        timeoutMs: timeoutMs.default(filterLimits.authDeadlineMs),
        /** Points added when SPF fails (hard fail) / DKIM fails / DMARC fails without an enforced policy. */
        spfFailScore: score.default(2),
        dkimFailScore: score.default(1),
        dmarcFailScore: score.default(3),
      })
      .strict()
      .default({ enabled: true, enforceDmarc: true, timeoutMs: filterLimits.authDeadlineMs, spfFailScore: 2, dkimFailScore: 1, dmarcFailScore: 3 }),
    /** Reputation hygiene of the client (MX only): reverse DNS present and forward-confirmed, HELO matching. */
    client: z
      .object({
        enabled: z.boolean().default(true),
        /** Points when the client address has no PTR record. */
        noPtrScore: score.default(1.5),
        /** Points when the PTR name does not resolve back to the client address. */
        ptrMismatchScore: score.default(1),
        /** Points when HELO is neither the confirmed PTR name nor the client's address literal. */
        heloMismatchScore: score.default(0.5),
        /** Points when HELO is not a fully qualified name or an address literal (RFC 5321 §4.1.1.1). */
        heloInvalidScore: score.default(2),
      })
      .strict()
      .default({ enabled: true, noPtrScore: 1.5, ptrMismatchScore: 1, heloMismatchScore: 0.5, heloInvalidScore: 2 }),
    /** Default thresholds; domains and users may override them (settings.ts). */
    thresholds: z
      .object({
        /** At or above: Junk. SpamAssassin's required_score is 5. */
        junkScore: score.default(5),
        /** At or above: refused with 554 5.7.1 after DATA. rspamd's reject action is 15. */
        rejectScore: score.default(15),
      })
      .strict()
      .default({ junkScore: 5, rejectScore: 15 }),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.thresholds.rejectScore < c.thresholds.junkScore) ctx.addIssue({ code: 'custom', path: ['thresholds'], message: 'rejectScore must be >= junkScore' });
    if (c.spam.engine === 'spamd' && c.spam.spamd === undefined) ctx.addIssue({ code: 'custom', path: ['spam', 'spamd'], message: 'engine spamd needs spamd: {host, port}' });
    if (c.spam.engine === 'rspamd' && c.spam.rspamd === undefined) ctx.addIssue({ code: 'custom', path: ['spam', 'rspamd'], message: 'engine rspamd needs rspamd: {host, port}' });
    if (c.antivirus.engine === 'clamd' && c.antivirus.clamd === undefined) ctx.addIssue({ code: 'custom', path: ['antivirus', 'clamd'], message: 'engine clamd needs clamd: {host, port}' });
    if (c.spam.timeoutMs >= c.dataDeadlineMs || c.antivirus.timeoutMs >= c.dataDeadlineMs || c.auth.timeoutMs >= c.dataDeadlineMs) {
      ctx.addIssue({ code: 'custom', path: ['dataDeadlineMs'], message: 'each scanner timeout must be below dataDeadlineMs' });
    }
  });

export type FilterConfigInput = z.input<typeof filterConfigSchema>;
export type FilterConfig = z.output<typeof filterConfigSchema>;

/** Parses and validates; throws a FilterConfigError naming the first bad field. */
export function parseFilterConfig(input: unknown): FilterConfig {
  const r = filterConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw new FilterConfigError(`filter config: ${i?.path.join('.') || '(root)'}: ${i?.message ?? 'invalid'}`);
}

export class FilterConfigError extends Error {
  override readonly name = 'FilterConfigError';
}
