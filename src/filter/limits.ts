// Every limit of the washer, with its unit in the name, its default and the reason for it.
// Values only: the clients and the Washer enforce them; config.ts lets an operator override the timeouts.

export const filterLimits = Object.freeze({
  /**
   * The whole DATA check (authentication, spam score, antivirus in parallel) must finish
   * within this, or the fail policy decides. Kept well below the SMTP front end's
   * backendCallTimeoutMs (30 000 ms), so the washer answers before the front end gives up.
   */
  dataDeadlineMs: 20_000,
  /** One spamd, rspamd or clamd exchange. SpamAssassin's spamc default is 120 s; a busy MX wants far less. */
  scannerTimeoutMs: 10_000,
  /** Connecting to a scanner; a dead one refuses at once, a black-holed one would wait the whole timeout. */
  scannerConnectTimeoutMs: 2_000,
  /** One DNS query (DNSBL, PTR, A, SPF/DKIM/DMARC records). */
  dnsTimeoutMs: 2_000,
  /** All DNSBL zones for one client, in parallel. */
  dnsblDeadlineMs: 4_000,
  /** SPF, DKIM, DMARC and ARC for one message (mailauth makes up to ~20 queries). */
  authDeadlineMs: 8_000,
  /** DNSBL and reverse-DNS answers remembered per client address (LRU), so RCPT and DATA reuse the connect lookup. */
  clientCacheEntriesMax: 10_000,
  /** How long a remembered DNSBL / reverse-DNS answer is used. DNSBL TTLs are typically 5-60 minutes. */
  clientCacheTtlMs: 5 * 60 * 1000,
  /** Bytes of a scanner reply we read; spamd SYMBOLS and rspamd /checkv2 answers are a few KiB. */
  scannerReplyBytesMax: 1024 * 1024,
  /** Rule names kept in the record and the X-Spam header (the rest are counted, not listed). */
  rulesRecordedMax: 50,
  /** Entries in a per-user allow or block list; a setting value is at most 64 KiB anyway. */
  listEntriesMax: 1000,
  /** clamd INSTREAM chunk size. clamd reads 4-byte length-prefixed chunks. */
  clamdChunkBytes: 64 * 1024,
});

export type FilterLimits = typeof filterLimits;
