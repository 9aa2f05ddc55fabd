// `stormo init`, `join`, `token`, `remove`, `status`: creating a cluster, joining one, and the admin calls on
// membership. Arguments and output only: identity and join live in src/cluster, the rest in the node's admin API.

import { access, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { certFingerprint } from '../cluster/ca.ts';
import { identityPaths, initIdentity, writeIdentity } from '../cluster/identity.ts';
import { requestJoin } from '../cluster/join.ts';
import { parseHostPort } from '../cluster/node-cluster.ts';
import { AdminClient } from './client.ts';
import { ConfigError, parseConfig } from './config.ts';

export interface ClusterCommandOptions {
  data?: string | undefined;
  nodeId?: string | undefined;
  /** Inter-node listen address, host:port. */
  clusterListen?: string | undefined;
  /** Join service port (init only). */
  joinPort?: string | undefined;
  token?: string | undefined;
  ttl?: string | undefined;
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

function listenOf(o: ClusterCommandOptions, fallback: string): { host: string; port: number } {
  const a = parseHostPort(o.clusterListen ?? fallback, true);
  if (a === undefined) throw new ConfigError(`--cluster-listen ${o.clusterListen}: expected host:port`);
  return a;
}

/** Write the node's config.json after validating it with the same schema `stormo up` uses. */
async function writeConfig(dir: string, raw: Record<string, unknown>): Promise<string> {
  const file = join(dir, 'config.json');
  parseConfig(raw, file);
  await writeFile(file, `${JSON.stringify(raw, null, 2)}\n`, { flag: 'wx', mode: 0o600 });
  return file;
}

/** `stormo init`: a new cluster in a data folder: its CA, the first node's identity, its config. */
export async function runInit(o: ClusterCommandOptions): Promise<void> {
  const dir = resolve(o.data ?? './data');
  const nodeId = o.nodeId ?? 'n1';
  if (await exists(join(dir, 'config.json'))) throw new Error(`${join(dir, 'config.json')} exists: ${dir} already holds a node`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const listen = listenOf(o, '127.0.0.1:2700');
  const joinPort = o.joinPort === undefined ? listen.port + 1 : Number(o.joinPort);
  if (!Number.isInteger(joinPort) || joinPort < 0 || joinPort > 65_535) throw new ConfigError('--join-port takes a port number');
  const id = await initIdentity(dir, nodeId, new Date());
  const file = await writeConfig(dir, { nodeId, dataDir: dir, cluster: { listen: { host: listen.host, port: listen.port, joinPort }, peers: {}, voters: [nodeId] } });
  console.log(`cluster created: node ${nodeId} in ${dir}`);
  console.log(`  CA fingerprint  sha256:${certFingerprint(id.caPem)}`);
  console.log(`  CA key          ${identityPaths(dir).caKeyFile} (mode 0600; keep it on this node only)`);
  console.log(`  config          ${file}`);
  console.log(`start it:  stormo up --config ${file}\nthen add nodes:  stormo token --data ${dir}   and on the new node:  stormo join --token TOKEN`);
}

/** `stormo join --token T`: get a certificate from a member and write this node's identity and config. */
export async function runJoin(o: ClusterCommandOptions): Promise<void> {
  if (o.token === undefined) throw new ConfigError('stormo join needs --token (from stormo token on a member)');
  if (o.nodeId === undefined) throw new ConfigError('stormo join needs --node-id (a new id, unique in the cluster)');
  const dir = resolve(o.data ?? './data');
  if (await exists(join(dir, 'config.json'))) throw new Error(`${join(dir, 'config.json')} exists: ${dir} already holds a node`);
  const listen = listenOf(o, '127.0.0.1:2700');
  // The member records this address for every other member to dial: it must be concrete.
  if (listen.port === 0 || listen.host === '0.0.0.0' || listen.host === '::') throw new ConfigError('--cluster-listen: a concrete host:port the other members can dial');
  const r = await requestJoin(o.token, o.nodeId, listen);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeIdentity(identityPaths(dir), r.identity);
  const peers = Object.fromEntries(r.members.filter(([id]) => id !== o.nodeId).map(([id, a]) => [id, `${a.host}:${a.port}`]));
  const file = await writeConfig(dir, { nodeId: o.nodeId, dataDir: dir, cluster: { listen, peers, join: true } });
  console.log(`node ${o.nodeId} joined as a learner (it votes once caught up); identity in ${join(dir, 'cluster')}`);
  console.log(`start it:  stormo up --config ${file}   (set its listen ports first if other nodes run on this host)`);
}

/** `stormo token`: a one-time join token from the node's join service. */
export async function runToken(o: ClusterCommandOptions): Promise<void> {
  const api = await AdminClient.fromDataDir(o.data ?? './data');
  const ttlSeconds = o.ttl === undefined ? undefined : Number(o.ttl);
  if (ttlSeconds !== undefined && !Number.isInteger(ttlSeconds)) throw new ConfigError('--ttl takes a number of seconds');
  const r = await api.call<{ token: string; expiresAtMs: number }>('POST', '/v1/cluster/tokens', ttlSeconds === undefined ? {} : { ttlSeconds });
  console.log(r.token);
  console.error(`one-time; expires ${new Date(r.expiresAtMs).toISOString()}`);
}

/** `stormo remove ID`: take a member out of the Raft group. */
export async function runRemove(o: ClusterCommandOptions, id: string | undefined): Promise<void> {
  if (id === undefined) throw new ConfigError('stormo remove needs a node id');
  const api = await AdminClient.fromDataDir(o.data ?? './data');
  await api.call('DELETE', `/v1/cluster/members/${encodeURIComponent(id)}`);
  console.log(`${id} removed from the cluster`);
}

interface NodeRow {
  id: string;
  reachable: boolean;
  role?: string;
  leader?: string;
  term?: number;
  commit?: number;
  applied?: number;
  ready?: boolean;
  error?: string;
}

/** `stormo status`: members, leader, term, commit/applied and readiness per node. */
export async function runStatus(o: ClusterCommandOptions & { json?: boolean | undefined }): Promise<void> {
  const api = await AdminClient.fromDataDir(o.data ?? './data');
  const st = await api.call<{ nodeId: string; members: { voters: string[]; learners: string[] } | null; nodes: NodeRow[] | null; addresses: Record<string, string>; missingBlobCopies: number | null; single?: Record<string, unknown>; gossip?: { members: GossipRow[] } | null }>('GET', '/v1/cluster/status');
  if (o.json) return console.log(JSON.stringify(st, null, 2));
  if (st.members === null || st.nodes === null) {
    console.log(`single node ${st.nodeId} (no cluster): ${JSON.stringify(st.single ?? {})}`);
    return;
  }
  const leader = st.nodes.find((n) => n.reachable && n.role === 'leader');
  console.log(`leader ${leader?.id ?? '(none)'}  term ${leader?.term ?? '-'}  voters ${st.members.voters.join(',')}  learners ${st.members.learners.join(',') || '-'}  missing blob copies ${st.missingBlobCopies ?? '-'}`);
  console.log(['node', 'address', 'role', 'term', 'commit', 'applied', 'ready'].join('\t'));
  for (const n of st.nodes) {
    const addr = st.addresses[n.id] ?? '?';
    if (!n.reachable) console.log([n.id, addr, 'unreachable', '-', '-', '-', 'no', n.error ?? ''].join('\t'));
    else console.log([n.id, addr, n.role, n.term, n.commit, n.applied, n.ready ? 'yes' : 'no'].join('\t'));
  }
  // Soft state as this node last heard it through gossip (liveness, event-loop lag, sessions, msg/s).
  for (const g of st.gossip?.members ?? []) {
    const load = g.load ? `loop lag ${g.load.loopLagMs} ms, ${Object.entries(g.load.connections).map(([k, v]) => `${k} ${v}`).join(', ') || 'no sessions'}, ${g.load.messagesPerSecond} msg/s` : 'no load heard';
    console.log(`gossip ${g.nodeId}: ${g.alive ? 'alive' : 'DEAD'}, last heard ${g.lastSeenMs === null ? 'never' : `${g.lastSeenMs} ms ago`}, ${load}`);
  }
}

interface GossipRow {
  nodeId: string;
  alive: boolean;
  lastSeenMs: number | null;
  load: { loopLagMs: number; connections: Record<string, number>; messagesPerSecond: number } | null;
}
