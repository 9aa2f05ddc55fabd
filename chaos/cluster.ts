// The cluster under test: N `stormo up` processes on loopback, every inter-node link through a
// LinkProxy the nemesis can cut, HAProxy in front. Starts, kills, pauses, restarts; reads status.

import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Balancer, balancedServices, haproxyConfig, startHaproxy } from '../src/cli/balancer.ts';
import { balancerSourceAddress, createLocalCluster } from '../src/cli/cluster-local.ts';
import { LinkProxy } from './link-proxy.ts';
import { type HostPort, parseHostPort } from './workload.ts';

export const repoRoot = resolve(import.meta.dirname, '..');
const nodeBin = join(repoRoot, 'node_modules', '.bin', 'node');
const stormoBin = join(repoRoot, 'bin', 'stormo.js');

export const clusterLimits = {
  /** A node must write its endpoints within this after start. */
  nodeStartMs: 60_000,
  /** Healing: every node ready within this. */
  readyMs: 60_000,
  /** One admin HTTP call. */
  adminCallMs: 3_000,
} as const;

interface NodeProc {
  readonly id: string;
  readonly dir: string;
  readonly configFile: string;
  proc: ChildProcess | null;
  paused: boolean;
  endpoints: Record<string, string>;
}

/** A free TCP port on 127.0.0.1 (closed again: a small race, acceptable on a test machine). */
async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolvePort(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

export class ChaosCluster {
  readonly nodes: NodeProc[] = [];
  /** links.get(`${from}>${to}`): what `from` dials to reach `to`. */
  private readonly links = new Map<string, LinkProxy>();
  private balancer: Balancer | undefined;
  balancerPorts: Partial<Record<(typeof balancedServices)[number], number>> = {};
  private adminToken = '';
  readonly dataDir: string;

  private constructor(dataDir: string) {
    this.dataDir = dataDir;
  }

  /** Create identities and configs, start the link proxies and every node, wait until all are up. */
  static async start(dataDir: string, n: number, basePort: number, configPatch: Record<string, unknown> = {}): Promise<ChaosCluster> {
    const c = new ChaosCluster(resolve(dataDir));
    const files = await createLocalCluster({ nodes: n, dataDir: c.dataDir, basePort, bin: stormoBin, logLevel: 'warn' });
    for (let i = 1; i <= n; i++) c.nodes.push({ id: `n${i}`, dir: join(c.dataDir, `n${i}`), configFile: files[i - 1]!, proc: null, paused: false, endpoints: {} });
    for (const node of c.nodes) {
      const cfg = JSON.parse(await readFile(node.configFile, 'utf8')) as { cluster: { peers: Record<string, string> }; drainMs?: number };
      for (const [peer, addr] of Object.entries(cfg.cluster.peers)) {
        const proxy = await LinkProxy.start(`${node.id}>${peer}`, parseHostPort(addr));
        c.links.set(`${node.id}>${peer}`, proxy);
        cfg.cluster.peers[peer] = `127.0.0.1:${proxy.port}`;
      }
      cfg.drainMs = 0;
      await writeFile(node.configFile, `${JSON.stringify({ ...cfg, ...configPatch }, null, 2)}\n`);
    }
    await Promise.all(c.nodes.map((node) => c.startNode(node)));
    c.adminToken = (await readFile(join(c.nodes[0]!.dir, 'admin.token'), 'utf8')).trim();
    return c;
  }

  async startNode(node: NodeProc): Promise<void> {
    await rm(join(node.dir, 'endpoints.json'), { force: true });
    const log = createWriteStream(join(node.dir, 'node.log'), { flags: 'a' });
    const proc = spawn(nodeBin, [stormoBin, 'up', '--config', node.configFile], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    proc.stdout!.pipe(log, { end: false });
    proc.stderr!.pipe(log, { end: false });
    node.proc = proc;
    node.paused = false;
    const deadline = Date.now() + clusterLimits.nodeStartMs;
    for (;;) {
      const text = await readFile(join(node.dir, 'endpoints.json'), 'utf8').catch(() => undefined);
      if (text !== undefined) {
        try {
          node.endpoints = JSON.parse(text) as Record<string, string>;
          return;
        } catch {
          // half written
        }
      }
      if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`${node.id} did not start; see ${join(node.dir, 'node.log')}`);
      await sleep(100);
    }
  }

  async kill(node: NodeProc): Promise<void> {
    const p = node.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    if (node.paused) p.kill('SIGCONT');
    p.kill('SIGKILL');
    await exited;
    node.proc = null;
    node.paused = false;
  }

  pause(node: NodeProc): void {
    if (node.proc && !node.paused) {
      node.proc.kill('SIGSTOP');
      node.paused = true;
    }
  }

  resume(node: NodeProc): void {
    if (node.proc && node.paused) {
      node.proc.kill('SIGCONT');
      node.paused = false;
    }
  }

  setLink(a: string, b: string, up: boolean): void {
    for (const key of [`${a}>${b}`, `${b}>${a}`]) {
      const l = this.links.get(key);
      if (up) l?.heal();
      else l?.cut();
    }
  }

  isolate(node: string, up: boolean): void {
    for (const other of this.nodes) if (other.id !== node) this.setLink(node, other.id, up);
  }

  /** Every fault undone: links healed, paused nodes resumed, killed nodes started again. */
  async healAll(): Promise<void> {
    for (const l of this.links.values()) l.heal();
    for (const n of this.nodes) this.resume(n);
    for (const n of this.nodes) if (n.proc === null) await this.startNode(n);
  }

  async admin(node: NodeProc, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
    const r = await fetch(`${node.endpoints['admin']}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(clusterLimits.adminCallMs),
    });
    return { status: r.status, json: await r.json().catch(() => null) };
  }

  /** The leader's id as some live node sees it, or null. */
  async leader(): Promise<string | null> {
    for (const n of this.nodes) {
      if (!n.proc || n.paused) continue;
      try {
        const r = await this.admin(n, 'GET', '/health/ready');
        const st = await this.admin(n, 'GET', '/v1/cluster/status');
        const lead = (st.json as { nodes?: { leader?: string }[] } | null)?.nodes?.find((x) => x.leader)?.leader;
        if (r.status === 200 && lead) return lead;
      } catch {
        // next node
      }
    }
    return null;
  }

  async waitAllReady(timeoutMs = clusterLimits.readyMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(this.nodes.map((n) => this.admin(n, 'GET', '/health/ready').then((r) => r.status === 200, () => false)));
      if (states.every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`not every node is ready after ${timeoutMs} ms: ${states.map((s, i) => `${this.nodes[i]!.id}=${s}`).join(' ')}`);
      await sleep(250);
    }
  }

  /** HAProxy in front of every node on free ports, connecting from the address the nodes trust. */
  async startBalancer(): Promise<void> {
    for (const s of balancedServices) this.balancerPorts[s] = await freePort();
    const targets = this.nodes.map((n) => ({
      id: n.id,
      host: '127.0.0.1',
      adminPort: parseHostPort(n.endpoints['admin']!).port,
      ports: Object.fromEntries(balancedServices.flatMap((s) => (n.endpoints[s] ? [[s, parseHostPort(n.endpoints[s]).port]] : []))),
    }));
    const cfg = haproxyConfig(targets, { host: '127.0.0.1', ports: this.balancerPorts, sourceAddress: balancerSourceAddress });
    this.balancer = await startHaproxy(join(this.dataDir, 'haproxy.cfg'), cfg, { readyPort: this.balancerPorts.smtp!, logFile: join(this.dataDir, 'haproxy.log') });
  }

  balancerEndpoint(service: (typeof balancedServices)[number]): HostPort {
    return { host: '127.0.0.1', port: this.balancerPorts[service]! };
  }

  endpoint(node: NodeProc, service: string): HostPort {
    return parseHostPort(node.endpoints[service]!);
  }

  async stop(): Promise<void> {
    await this.balancer?.stop();
    await Promise.all(this.nodes.map((n) => this.kill(n)));
    await Promise.all([...this.links.values()].map((l) => l.close()));
  }
}
