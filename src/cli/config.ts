// The node's configuration: one zod schema, validated at start, errors that name the field.
// Defaults give a working local node on loopback with unprivileged ports.

import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { filterConfigSchema } from '../filter/index.ts';

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
        imap: port.default(2143),
        imaps: port.default(2993),
        admin: port.default(2080),
      })
      .strict()
      .default({ host: '127.0.0.1', smtp: 2525, submission: 2587, submissions: 2465, pop3: 2110, pop3s: 2995, imap: 2143, imaps: 2993, admin: 2080 }),
    tls: z
      .object({ certFile: z.string().min(1), keyFile: z.string().min(1) })
      .strict()
      .optional(),
    /**
     * Behind a balancer: the addresses that send a PROXY protocol header (v1 or v2; HAProxy
     * `send-proxy-v2`). Every connection from them must start with one; SMTP, IMAP and POP3 serve
     * other addresses as direct clients (Dovecot's haproxy_trusted_networks). Absent: no headers.
     */
    proxy: z.object({ trustedProxies: z.array(z.string().min(1)).min(1) }).strict().optional(),
    /**
     * Bytes kept free on the data disk for metadata: mail that would leave less is refused with
     * 452 4.3.1 (Postfix's queue_minfree). Default 128 MiB; 0 turns the check off.
     */
    diskReserveBytes: z.number().int().min(0).default(128 * 1024 * 1024),
    /** IMAP APPENDLIMIT (RFC 7889), bytes; absent: the same as messageBytesMax. */
    imapAppendLimitBytes: z.number().int().min(1024).max(1 << 30).optional(),
    /** Largest message accepted, bytes (SMTP SIZE, RFC 1870). */
    messageBytesMax: z.number().int().min(1024).max(1 << 30).default(50 * 1024 * 1024),
    /**
     * SMTP connections at once from one client address (Postfix's smtpd_client_connection_count_limit).
     * Default 50. Raise it where many clients share an address (a NAT, a load generator).
     */
    smtpConnectionsPerIpMax: z.number().int().min(1).max(100_000).optional(),
    /**
     * The washer (DNSBL, SPF/DKIM/DMARC/ARC, spamd or rspamd, clamd): see src/filter/config.ts. Absent:
     * no checks, every accepted message goes to INBOX.
     */
    filter: filterConfigSchema.optional(),
    /** On stop, ms spent not ready (the balancer moves clients away) before closing. Default 1500 in a cluster, 0 alone. */
    drainMs: z.number().int().min(0).max(600_000).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    /** Absent: a single-node store. Present: this node is a member of a cluster (see clusterSchema). */
    cluster: z.lazy(() => clusterSchema).optional(),
  })
  .strict();

const hostPort = z.string().regex(/^(?:\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/, 'host:port (IPv6 as [addr]:port)');
const nodeIdText = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'node id: 1-63 of a-z, 0-9, -');

/** The inter-node side of a node: mutual TLS with certificates of the cluster's own CA (stormo init / join). */
export const clusterSchema = z
  .object({
    listen: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        /** Raft and RPC between members (mutual TLS). */
        port: port.default(2700),
        /** The join service (TLS, token-authenticated); only on nodes holding the CA key. Absent: none. */
        joinPort: port.optional(),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 2700 }),
    /** How the other members reach this node, host:port (default: the listen address). */
    advertise: hostPort.optional(),
    /** The other members known at start: node id -> host:port. More are learned as members join. */
    peers: z.record(nodeIdText, hostPort).default({}),
    /** Founding voters (this node among them), used only when the data folder is new. Default: this node and every peer. */
    voters: z.array(nodeIdText).min(1).max(7).optional(),
    /** Start empty and wait to be added by a member (set by stormo join). */
    join: z.boolean().default(false),
    /** Copies of each message body (at most the number of nodes). */
    replicationFactor: z.number().int().min(1).max(7).default(3),
    /** Identity files; defaults under <dataDir>/cluster/. */
    caFile: z.string().min(1).optional(),
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
    caKeyFile: z.string().min(1).optional(),
  })
  .strict();

export type ClusterConfig = z.infer<typeof clusterSchema>;

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
  if (r.success) {
    const c = r.data.cluster;
    if (c && c.voters && !c.join && !c.voters.includes(r.data.nodeId)) throw new ConfigError(`${source} is invalid:\n  cluster.voters: must include nodeId ${r.data.nodeId}`);
    if (c && Object.hasOwn(c.peers, r.data.nodeId)) throw new ConfigError(`${source} is invalid:\n  cluster.peers: must not list this node (${r.data.nodeId})`);
    return r.data;
  }
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
