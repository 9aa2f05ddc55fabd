// `stormo init-cluster`: the founding members of a cluster on separate hosts, made in one place (the CA,
// each node's identity and configuration), to be copied to each host or mounted as in docker-compose.
// Files only: it starts nothing. The CA key stays with the first node only (it runs the join service).

import { access, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createCa } from '../cluster/ca.ts';
import { identityPaths, issueIdentity, writeIdentity } from '../cluster/identity.ts';
import { ConfigError, parseConfig } from './config.ts';

/** The ports every node of a deployment uses on its own host (the IANA ones for mail). */
export const standardPorts = { smtp: 25, submission: 587, submissions: 465, imap: 143, imaps: 993, pop3: 110, pop3s: 995, admin: 8080, cluster: 7000, join: 7001 } as const;

export interface FoundersOptions {
  /** Folder receiving <id>/ per node. */
  out: string;
  /** Node id -> the host name or address the other members reach it at. */
  nodes: readonly { id: string; host: string }[];
  /** Address the balancer connects from: nodes take PROXY headers from it only. */
  balancerAddress?: string | undefined;
  /** The data folder as the node will see it (a container path); default <out>/<id>. */
  dataDirOf?: ((id: string) => string) | undefined;
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** Node `id`'s configuration in a deployment of `nodes`. */
export function founderConfig(id: string, o: FoundersOptions): Record<string, unknown> {
  const p = standardPorts;
  const peers = Object.fromEntries(o.nodes.filter((n) => n.id !== id).map((n) => [n.id, `${n.host}:${p.cluster}`]));
  const self = o.nodes.find((n) => n.id === id)!;
  return {
    nodeId: id,
    dataDir: o.dataDirOf?.(id) ?? join(resolve(o.out), id),
    hostname: self.host,
    listen: { host: '0.0.0.0', smtp: p.smtp, submission: p.submission, submissions: p.submissions, imap: p.imap, imaps: p.imaps, pop3: p.pop3, pop3s: p.pop3s, admin: p.admin },
    ...(o.balancerAddress ? { proxy: { trustedProxies: [o.balancerAddress] } } : {}),
    cluster: {
      listen: { host: '0.0.0.0', port: p.cluster, ...(id === o.nodes[0]!.id ? { joinPort: p.join } : {}) },
      advertise: `${self.host}:${p.cluster}`,
      peers,
      voters: o.nodes.map((n) => n.id),
    },
  };
}

/** Writes <out>/<id>/{config.json, cluster/...} for every node; refuses to overwrite an existing one. */
export async function initCluster(o: FoundersOptions): Promise<string[]> {
  if (o.nodes.length < 1 || o.nodes.length > 7) throw new ConfigError('init-cluster: 1..7 founding nodes');
  if (new Set(o.nodes.map((n) => n.id)).size !== o.nodes.length) throw new ConfigError('init-cluster: node ids must differ');
  const out = resolve(o.out);
  for (const n of o.nodes) if (await exists(join(out, n.id, 'config.json'))) throw new ConfigError(`init-cluster: ${join(out, n.id)} exists; remove it to start over`);
  const ca = await createCa('stormo', new Date());
  const files: string[] = [];
  for (const [i, n] of o.nodes.entries()) {
    const dir = join(out, n.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeIdentity(identityPaths(dir), await issueIdentity(ca, n.id, new Date(), i === 0));
    const cfg = founderConfig(n.id, o);
    parseConfig(cfg, join(dir, 'config.json'));
    // The identity was written under <out>/<id>; a node that sees its data elsewhere (a container) finds it there.
    await writeFile(join(dir, 'config.json'), `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
    files.push(join(dir, 'config.json'));
  }
  return files;
}

/** `--nodes n1=node1,n2=node2,n3=node3` -> [{id, host}]. */
export function parseFounders(text: string): { id: string; host: string }[] {
  return text.split(',').map((part) => {
    const [id, host] = part.split('=');
    if (!id || !host) throw new ConfigError(`init-cluster: --nodes takes id=host,id=host,... (got ${part})`);
    return { id: id.trim(), host: host.trim() };
  });
}
