// The `stormo` command: `up` runs a node; domain, user and alias commands talk to a running node.
// Argument parsing and output only; the work happens in the node (admin API) or in up.ts.

import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { AdminClient } from './client.ts';
import { ConfigError, loadConfig } from './config.ts';
import { up } from './up.ts';
import { runInit, runJoin, runRemove, runStatus, runToken } from './cluster-commands.ts';
import { initCluster, parseFounders } from './cluster-founders.ts';
import { balancerPortsFrom, localBalancerPorts, upLocalCluster } from './cluster-local.ts';

const usage = `usage: stormo <command> [options]

  up [--config FILE] [--data DIR]        start a local node and print its endpoints
  up --nodes N [--data DIR] [--base-port P] [--balancer [--balancer-port P]]
                                          a local N-node cluster on loopback, one process per node (DIR/n1..nN);
                                          --balancer: HAProxy in front on the single-node ports (SMTP 2525, IMAP 2143, ...);
                                          --balancer-port P: on P..P+6 instead (smtp, submission, submissions, imap, imaps, pop3, pop3s)
  init [--node-id ID] [--cluster-listen HOST:PORT] [--join-port P]   create a cluster: its CA, this node's identity and config
  token [--ttl SECONDS]                  a one-time join token (from the node holding the CA key)
  join --token T --node-id ID [--cluster-listen HOST:PORT]   get this node's certificate from a member; writes its config
  init-cluster --nodes ID=HOST,ID=HOST,... --out DIR [--balancer-address ADDR] [--container-data PATH]
                                          founding members on separate hosts: CA, identities, configs (DIR/ID)
  remove NODE_ID                         take a member out of the cluster
  status [--json]                        members, leader, term, commit/applied and readiness per node
  domain add NAME [--tenant T] | list | remove NAME
  user add ADDRESS [--password P] [--quota BYTES] | list [DOMAIN] | passwd ADDRESS [--password P] | remove ADDRESS
  alias add ADDRESS TARGET... | list [DOMAIN] | remove ADDRESS

  --data DIR    the node's data folder (default ./data); the CLI finds the node through it
  Without --password, the password is asked for (or read from the first line of stdin).`;

async function readPassword(prompt: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true });
  if (process.stdin.isTTY) {
    // Do not echo what is typed.
    const out = rl as unknown as { _writeToOutput: (s: string) => void };
    process.stdout.write(prompt);
    out._writeToOutput = () => {};
  }
  const line = await new Promise<string>((resolve) => rl.once('line', resolve).once('close', () => resolve('')));
  rl.close();
  if (process.stdin.isTTY) process.stdout.write('\n');
  if (line === '') throw new Error('no password given');
  return line;
}

async function runUp(values: Record<string, unknown>): Promise<void> {
  const cfg = await loadConfig(values.config as string | undefined);
  if (values.data) cfg.dataDir = values.data as string;
  // A store that failed on its disk cannot go on safely: exit, the supervisor restarts us (EX_SOFTWARE).
  const node = await up(cfg, { onFatal: () => setTimeout(() => process.exit(70), 100) });
  const e = node.endpoints;
  console.log(`stormo node ${e.nodeId} is up (data in ${cfg.dataDir})`);
  for (const [k, v] of Object.entries(e)) if (k !== 'nodeId') console.log(`  ${k.padEnd(12)} ${v}`);
  console.log(`  admin token  ${cfg.dataDir}/admin.token (mode 0600); endpoints in ${cfg.dataDir}/endpoints.json`);
  const stop = (): void => {
    node.stop().then(() => process.exit(0), () => process.exit(1));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Started by `stormo up --nodes N` (an IPC channel to it): stop when it goes, even if it was SIGKILLed.
  if (process.send !== undefined) process.once('disconnect', stop);
}

type Rows = Record<string, unknown>[];

function table(rows: Rows): void {
  for (const r of rows) console.log(Object.values(r).map((v) => (Array.isArray(v) ? v.join(',') : String(v))).join('\t'));
}

async function runDirectory(cmd: string, args: string[], values: Record<string, unknown>): Promise<void> {
  const api = await AdminClient.fromDataDir((values.data as string | undefined) ?? './data');
  const [sub, ...rest] = args;
  const enc = encodeURIComponent;
  const need = (n: number): void => {
    if (rest.length < n) throw new Error(`stormo ${cmd} ${sub}: missing argument\n\n${usage}`);
  };
  const key = `${cmd} ${sub}`;
  switch (key) {
    case 'domain add':
      need(1);
      await api.call('POST', '/v1/domains', { name: rest[0], ...(values.tenant ? { tenant: values.tenant } : {}) });
      return console.log(`domain ${rest[0]} added`);
    case 'domain list':
      return table((await api.call<{ domains: Rows }>('GET', '/v1/domains')).domains);
    case 'domain remove':
      need(1);
      await api.call('DELETE', `/v1/domains/${enc(rest[0]!)}`);
      return console.log(`domain ${rest[0]} removed`);
    case 'user add': {
      need(1);
      const password = (values.password as string | undefined) ?? (await readPassword(`password for ${rest[0]}: `));
      const quotaBytes = values.quota === undefined ? undefined : Number(values.quota);
      if (quotaBytes !== undefined && !Number.isSafeInteger(quotaBytes)) throw new Error('--quota takes a number of bytes');
      await api.call('POST', '/v1/users', { address: rest[0], password, ...(quotaBytes !== undefined ? { quotaBytes } : {}) });
      return console.log(`user ${rest[0]} added`);
    }
    case 'user list':
      return table((await api.call<{ users: Rows }>('GET', `/v1/users${rest[0] ? `?domain=${enc(rest[0])}` : ''}`)).users);
    case 'user passwd': {
      need(1);
      const password = (values.password as string | undefined) ?? (await readPassword(`new password for ${rest[0]}: `));
      await api.call('PUT', `/v1/users/${enc(rest[0]!)}/password`, { password });
      return console.log(`password of ${rest[0]} changed`);
    }
    case 'user remove':
      need(1);
      await api.call('DELETE', `/v1/users/${enc(rest[0]!)}`);
      return console.log(`user ${rest[0]} removed`);
    case 'alias add':
      need(2);
      await api.call('POST', '/v1/aliases', { address: rest[0], targets: rest.slice(1) });
      return console.log(`alias ${rest[0]} -> ${rest.slice(1).join(', ')} added`);
    case 'alias list':
      return table((await api.call<{ aliases: Rows }>('GET', `/v1/aliases${rest[0] ? `?domain=${enc(rest[0])}` : ''}`)).aliases);
    case 'alias remove':
      need(1);
      await api.call('DELETE', `/v1/aliases/${enc(rest[0]!)}`);
      return console.log(`alias ${rest[0]} removed`);
    default:
      throw new Error(`unknown command: stormo ${key}\n\n${usage}`);
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      data: { type: 'string' },
      password: { type: 'string' },
      quota: { type: 'string' },
      tenant: { type: 'string' },
      nodes: { type: 'string' },
      balancer: { type: 'boolean' },
      out: { type: 'string' },
      'balancer-address': { type: 'string' },
      'balancer-port': { type: 'string' },
      'container-data': { type: 'string' },
      'base-port': { type: 'string' },
      'node-id': { type: 'string' },
      'cluster-listen': { type: 'string' },
      'join-port': { type: 'string' },
      token: { type: 'string' },
      ttl: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [cmd, ...args] = positionals;
  if (values.help || cmd === undefined) return console.log(usage);
  if (cmd === 'up' && values.nodes !== undefined) {
    const bin = join(import.meta.dirname, '..', '..', 'bin', 'stormo.js');
    const at = values['balancer-port'] === undefined ? undefined : Number(values['balancer-port']);
    const balancer = values.balancer ? (at === undefined ? localBalancerPorts : balancerPortsFrom(at)) : undefined;
    return upLocalCluster({ nodes: Number(values.nodes), dataDir: values.data ?? './data', basePort: Number(values['base-port'] ?? 3000), bin, balancer });
  }
  if (cmd === 'up') return runUp(values);
  const c = { data: values.data, nodeId: values['node-id'], clusterListen: values['cluster-listen'], joinPort: values['join-port'], token: values.token, ttl: values.ttl, json: values.json };
  if (cmd === 'init') return runInit(c);
  if (cmd === 'join') return runJoin(c);
  if (cmd === 'token') return runToken(c);
  if (cmd === 'remove') return runRemove(c, args[0]);
  if (cmd === 'init-cluster') {
    if (values.nodes === undefined || values.out === undefined) throw new Error(`stormo init-cluster: --nodes and --out are required\n\n${usage}`);
    const containerData = values['container-data'];
    const files = await initCluster({
      out: values.out,
      nodes: parseFounders(values.nodes),
      balancerAddress: values['balancer-address'],
      dataDirOf: containerData === undefined ? undefined : (id) => `${containerData}/${id}`,
    });
    return console.log(files.join('\n'));
  }
  if (cmd === 'status') return runStatus(c);
  if (cmd === 'domain' || cmd === 'user' || cmd === 'alias') return runDirectory(cmd, args, values);
  throw new Error(`unknown command: ${cmd}\n\n${usage}`);
}

export function runCli(argv: string[]): void {
  main(argv).catch((e: unknown) => {
    console.error(e instanceof ConfigError || e instanceof Error ? e.message : String(e));
    process.exitCode = e instanceof ConfigError ? 78 : 1; // 78: EX_CONFIG
  });
}
