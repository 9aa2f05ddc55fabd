// `stormo up --nodes N`: a local N-node cluster on loopback, each node its own process (`stormo up --config`),
// as in production. Creates the folders and identities once, supervises the children, stops them all on a signal.

import { type ChildProcess, spawn } from 'node:child_process';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { createCa } from '../cluster/ca.ts';
import { identityPaths, issueIdentity, writeIdentity } from '../cluster/identity.ts';
import { type BalancedNode, type BalancedService, type Balancer, balancedServices, haproxyConfig, startHaproxy } from './balancer.ts';
import { ConfigError, parseConfig } from './config.ts';

/** Ports per node: node i (1-based) listens on basePort + portsPerNode*(i-1) + offset. */
export const portsPerNode = 10;
const portOffset = { smtp: 0, submission: 1, submissions: 2, pop3: 3, pop3s: 4, admin: 5, cluster: 6, join: 7, imap: 8, imaps: 9 } as const;
/** Nodes a local cluster may have. */
export const localNodesMax = 9;
/** A child that has not written its endpoints within this is reported and the cluster stopped. */
export const childStartMs = 60_000;
/** Children still running this long after SIGTERM get SIGKILL. */
export const childStopMs = 10_000;

export interface LocalClusterOptions {
  nodes: number;
  /** Parent folder: node i lives in <dataDir>/n<i>. */
  dataDir: string;
  basePort: number;
  logLevel?: string | undefined;
  /** The CLI entry (bin/stormo.js) the children run. */
  bin: string;
  /** Put HAProxy in front, listening on these ports of 127.0.0.1 (`--balancer`). */
  balancer?: Partial<Record<BalancedService, number>> | undefined;
}

/**
 * HAProxy connects to the nodes from this address and the nodes trust PROXY headers from it only,
 * so clients on 127.0.0.1 can still reach a node directly (tests and checkers read each node).
 */
export const balancerSourceAddress = '127.0.0.2';

/** Balancer ports P..P+6 in the order of balancedServices (`--balancer-port P`). */
export function balancerPortsFrom(first: number): Record<BalancedService, number> {
  if (!Number.isInteger(first) || first < 1024 || first + balancedServices.length > 65_536) throw new ConfigError('--balancer-port: 1024..65529');
  return Object.fromEntries(balancedServices.map((s, i) => [s, first + i])) as Record<BalancedService, number>;
}

/** The balancer's ports in a local cluster: the single-node defaults, so clients need not change. */
export const localBalancerPorts: Record<BalancedService, number> = { smtp: 2525, submission: 2587, submissions: 2465, imap: 2143, imaps: 2993, pop3: 2110, pop3s: 2995 };

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** Config of node i in an n-node local cluster (every port distinct and predictable). */
export function localNodeConfig(i: number, n: number, dataDir: string, basePort: number, logLevel = 'info'): Record<string, unknown> {
  const p = (k: number, key: keyof typeof portOffset): number => basePort + portsPerNode * (k - 1) + portOffset[key];
  const host = '127.0.0.1';
  const peers: Record<string, string> = {};
  for (let k = 1; k <= n; k++) if (k !== i) peers[`n${k}`] = `${host}:${p(k, 'cluster')}`;
  return {
    nodeId: `n${i}`,
    dataDir: join(dataDir, `n${i}`),
    hostname: 'localhost',
    logLevel,
    proxy: { trustedProxies: [balancerSourceAddress] },
    listen: { host, smtp: p(i, 'smtp'), submission: p(i, 'submission'), submissions: p(i, 'submissions'), pop3: p(i, 'pop3'), pop3s: p(i, 'pop3s'), imap: p(i, 'imap'), imaps: p(i, 'imaps'), admin: p(i, 'admin') },
    cluster: {
      listen: { host, port: p(i, 'cluster'), ...(i === 1 ? { joinPort: p(i, 'join') } : {}) },
      peers,
      voters: Array.from({ length: n }, (_, k) => `n${k + 1}`),
    },
  };
}

/** Create n1..nN once: one CA (its key kept by n1 only, which runs the join service), identities, configs. */
export async function createLocalCluster(o: LocalClusterOptions): Promise<string[]> {
  const dataDir = resolve(o.dataDir);
  const files = Array.from({ length: o.nodes }, (_, k) => join(dataDir, `n${k + 1}`, 'config.json'));
  const present = await Promise.all(files.map(exists));
  if (present.every(Boolean)) return files;
  if (present.some(Boolean)) throw new ConfigError(`${dataDir} holds some of n1..n${o.nodes} but not all: remove it or use another --data`);
  const ca = await createCa('local', new Date());
  for (let i = 1; i <= o.nodes; i++) {
    const dir = join(dataDir, `n${i}`);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeIdentity(identityPaths(dir), await issueIdentity(ca, `n${i}`, new Date(), i === 1));
    const cfg = localNodeConfig(i, o.nodes, dataDir, o.basePort, o.logLevel);
    parseConfig(cfg, files[i - 1]);
    await writeFile(files[i - 1]!, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
  }
  return files;
}

interface Child {
  readonly id: string;
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
}

function startChild(bin: string, id: string, configFile: string): Child {
  // The IPC channel is only a lifeline: a node stops when this process goes, however it goes.
  const proc = spawn(process.execPath, [bin, 'up', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  for (const stream of [proc.stdout!, proc.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`[${id}] ${line}\n`));
  }
  const exited = new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  return { id, proc, exited };
}

async function waitEndpoints(file: string, child: Child): Promise<Record<string, string>> {
  const end = Date.now() + childStartMs;
  let gone = false;
  void child.exited.then(() => (gone = true));
  while (Date.now() < end && !gone) {
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text !== undefined) {
      try {
        return JSON.parse(text) as Record<string, string>;
      } catch {
        // half-written: read again
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`node ${child.id} did not start (${gone ? 'it exited' : `no endpoints within ${childStartMs} ms`}); see its output above`);
}

async function stopAll(children: readonly Child[], balancer?: Balancer): Promise<void> {
  await balancer?.stop();
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
  }, childStopMs);
  await Promise.all(children.map((c) => c.exited));
  clearTimeout(timer);
}

/** Start every node as a child, write <dataDir>/endpoints.json, print it; SIGINT/SIGTERM stop them all. */
export async function upLocalCluster(o: LocalClusterOptions): Promise<void> {
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > localNodesMax) throw new ConfigError(`--nodes takes 1..${localNodesMax}`);
  if (!Number.isInteger(o.basePort) || o.basePort < 1024 || o.basePort + portsPerNode * o.nodes > 65_535) throw new ConfigError('--base-port: 1024..65535, room for every node');
  const dataDir = resolve(o.dataDir);
  const files = await createLocalCluster(o);
  const children: Child[] = [];
  let balancer: Balancer | undefined;
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    console.log('stopping every node...');
    stopAll(children, balancer).then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const all: Record<string, Record<string, string>> = {};
  try {
    for (let i = 1; i <= o.nodes; i++) {
      const id = `n${i}`;
      await rm(join(dataDir, id, 'endpoints.json'), { force: true });
      const c = startChild(o.bin, id, files[i - 1]!);
      children.push(c);
      void c.exited.then((code) => {
        if (!stopping) console.log(`[${id}] exited (code ${code}); the others keep running`);
      });
    }
    for (const c of children) all[c.id] = await waitEndpoints(join(dataDir, c.id, 'endpoints.json'), c);
    if (o.balancer) {
      balancer = await startLocalBalancer(dataDir, all, o.balancer);
      all['balancer'] = Object.fromEntries(Object.entries(o.balancer).map(([k, port]) => [k, `127.0.0.1:${port}`]));
    }
  } catch (e) {
    stopping = true;
    await stopAll(children, balancer);
    throw e;
  }
  await writeFile(join(dataDir, 'endpoints.json'), `${JSON.stringify(all, null, 2)}\n`);
  console.log(`stormo: ${o.nodes}-node cluster up (data in ${dataDir}; endpoints in ${join(dataDir, 'endpoints.json')})`);
  for (const [id, e] of Object.entries(all)) {
    console.log(`  ${id}: ${Object.entries(e).filter(([k]) => k !== 'nodeId').map(([k, v]) => `${k} ${v}`).join('  ')}`);
  }
  console.log(`status: stormo status --data ${join(dataDir, 'n1')}    stop: Ctrl-C`);
}

const portOf = (hostPort: string | undefined): number | undefined => (hostPort === undefined ? undefined : Number(hostPort.slice(hostPort.lastIndexOf(':') + 1)));

/** HAProxy over the started nodes, from balancerSourceAddress, its configuration in <dataDir>/haproxy.cfg. */
async function startLocalBalancer(dataDir: string, nodes: Record<string, Record<string, string>>, ports: Partial<Record<BalancedService, number>>): Promise<Balancer> {
  const targets: BalancedNode[] = Object.entries(nodes).map(([id, e]) => ({
    id,
    host: '127.0.0.1',
    adminPort: portOf(e['admin'])!,
    ports: Object.fromEntries(balancedServices.flatMap((s) => (e[s] === undefined ? [] : [[s, portOf(e[s])!]]))),
  }));
  const config = haproxyConfig(targets, { host: '127.0.0.1', ports, sourceAddress: balancerSourceAddress });
  const first = Object.values(ports)[0];
  return startHaproxy(join(dataDir, 'haproxy.cfg'), config, first === undefined ? {} : { readyPort: first });
}
