// The node's configuration: one zod schema, validated at start, errors that name the field.
// Defaults give a working local node on loopback with unprivileged ports.

import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const port = z.number().int().min(0).max(65_535);

export const configSchema = z
  .object({
    /** This node's id in the Raft group; stable for the life of its data. */
    nodeId: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'nodeId: 1-63 of a-z, 0-9, -').default('n1'),
    /** Where the Raft log, the store, blobs, TLS files and the admin token live. */
    dataDir: z.string().min(1).default('./data'),
    /** The name this node gives in SMTP greetings and Received headers (RFC 5321 §4.1.3). */
    hostname: z.string().min(1).max(253).default('localhost'),
    listen: z
      .object({
        host: z.string().default('127.0.0.1'),
        smtp: port.default(2525),
        submission: port.default(2587),
        submissions: port.default(2465),
        pop3: port.default(2110),
        pop3s: port.default(2995),
        admin: port.default(2080),
      })
      .strict()
      .default({ host: '127.0.0.1', smtp: 2525, submission: 2587, submissions: 2465, pop3: 2110, pop3s: 2995, admin: 2080 }),
    tls: z
      .object({ certFile: z.string().min(1), keyFile: z.string().min(1) })
      .strict()
      .optional(),
    /**
     * Behind a balancer: the addresses that send a PROXY protocol header. SMTP listeners accept
     * version 1 from them (HAProxy `send-proxy`; smtp-server parses v1 only); POP3 then requires a
     * header (v1 or v2) on every connection. Absent: clients connect directly.
     */
    proxy: z.object({ trustedProxies: z.array(z.string().min(1)).min(1) }).strict().optional(),
    /**
     * Bytes kept free on the data disk for metadata: mail that would leave less is refused with
     * 452 4.3.1 (Postfix's queue_minfree). Default 128 MiB; 0 turns the check off.
     */
    diskReserveBytes: z.number().int().min(0).default(128 * 1024 * 1024),
    /** Largest message accepted, bytes (SMTP SIZE, RFC 1870). */
    messageBytesMax: z.number().int().min(1024).max(1 << 30).default(50 * 1024 * 1024),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Validate a parsed config object; the error lists each bad field by its path. */
export function parseConfig(raw: unknown, source = 'config'): Config {
  const r = configSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new ConfigError(`${source} is invalid:\n${lines.join('\n')}`);
}

export async function loadConfig(file: string | undefined): Promise<Config> {
  if (file === undefined) return parseConfig({});
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config ${file} is not valid JSON: ${(e as Error).message}`);
  }
  return parseConfig(raw, file);
}
