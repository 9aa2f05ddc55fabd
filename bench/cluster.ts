// `npm run bench:cluster`: SMTP ingest (10 KB, 50 connections) on 1 node and on 3 nodes with N=3 behind
// HAProxy, then failover time (leader SIGKILL to the first 250 of a transaction begun after the kill)
// over repeated trials. Prints figures with units; measures, never asserts.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ChaosCluster } from '../chaos/cluster.ts';
import { portsPerNode } from '../src/cli/cluster-local.ts';
import { freePortRange } from '../test/helpers/ports.ts';
import { RawSmtpClient } from '../test/node/fixtures/smtp-client.ts';
import { runSmtpLoad } from './smtp-load.ts';

const { values } = parseArgs({
  options: {
    msgs: { type: 'string', default: '3000' },
    sessions: { type: 'string', default: '50' },
    'size-bytes': { type: 'string', default: '10240' },
    trials: { type: 'string', default: '20' },
  },
});
const msgs = Number(values.msgs);
const sessions = Number(values.sessions);
const sizeBytes = Number(values['size-bytes']);
const trials = Number(values.trials);
const users = 100;
const domain = 'bench.test';

async function withCluster<T>(nodes: number, fn: (c: ChaosCluster) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-bench-cluster-'));
  // One load generator address for every connection: lift the per-address limit as for a NAT.
  const c = await ChaosCluster.start(dir, nodes, await freePortRange(nodes * portsPerNode), { smtpConnectionsPerIpMax: 1_000 });
  try {
    await c.waitAllReady();
    await c.admin(c.nodes[0]!, 'POST', '/v1/domains', { name: domain });
    for (let i = 1; i <= users; i++) {
      const r = await c.admin(c.nodes[0]!, 'POST', '/v1/users', { address: `user${i}@${domain}`, password: 'bench-password' });
      if (r.status !== 201) throw new Error(`creating user${i}: HTTP ${r.status}`);
    }
    await c.startBalancer();
    return await fn(c);
  } finally {
    await c.stop();
    if (process.env['STORMO_BENCH_KEEP']) console.log(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
}

async function ingest(c: ChaosCluster): Promise<{ rate: number; accepted: number; failed: number; errors: readonly string[] }> {
  const t = c.balancerEndpoint('smtp');
  const r = await runSmtpLoad({ host: t.host, port: t.port, sizeBytes, msgs: Math.ceil(msgs / users) * users, sessions, users, domain, connectionTimeoutMs: 30_000 });
  return { rate: r.accepted / r.seconds, accepted: r.accepted, failed: r.failed, errors: r.errors };
}

/** One delivery through the balancer; resolves with whether it got 250. */
async function probe(c: ChaosCluster, n: number): Promise<boolean> {
  const t = c.balancerEndpoint('smtp');
  try {
    const { client } = await RawSmtpClient.connect(t.port, { host: t.host, timeoutMs: 5_000 });
    try {
      await client.command('EHLO bench.example');
      const r = await client.send('probe@example.net', [`user${1 + (n % users)}@${domain}`], Buffer.from(`Subject: probe ${n}\r\n\r\nprobe\r\n`));
      return r.stage === 'data' && r.reply.code === 250;
    } finally {
      client.destroy();
    }
  } catch {
    return false;
  }
}

/** Kill the leader; the time until a delivery begun after the kill is acknowledged. */
async function failoverTrial(c: ChaosCluster): Promise<number> {
  const lead = await c.leader();
  const node = c.nodes.find((n) => n.id === lead);
  if (!node) throw new Error('no leader found');
  let n = 0;
  const killedAt = performance.now();
  await c.kill(node);
  const done = { at: 0 };
  const loops = Array.from({ length: 4 }, async () => {
    while (done.at === 0 && performance.now() - killedAt < 30_000) {
      if ((await probe(c, n++)) && done.at === 0) done.at = performance.now();
    }
  });
  await Promise.all(loops);
  await c.startNode(node);
  await c.waitAllReady();
  return done.at === 0 ? Number.POSITIVE_INFINITY : done.at - killedAt;
}

const fmt = (x: number): string => x.toFixed(0);
console.log(`bench:cluster: ${msgs} messages of ${sizeBytes} B, ${sessions} connections, ${users} users; failover ${trials} trials`);
const one = await withCluster(1, ingest);
console.log(`ingest 1 node:            ${one.rate.toFixed(1)} msg/s (${one.accepted} accepted, ${one.failed} failed${one.errors.length ? `: ${one.errors[0]}` : ''})`);
const three = await withCluster(3, async (c) => {
  const r = await ingest(c);
  console.log(`ingest 3 nodes, N=3:      ${r.rate.toFixed(1)} msg/s (${r.accepted} accepted, ${r.failed} failed${r.errors.length ? `: ${r.errors[0]}` : ''}); ratio to 1 node ${(r.rate / one.rate).toFixed(2)}`);
  const times: number[] = [];
  for (let i = 0; i < trials; i++) {
    times.push(await failoverTrial(c));
    await sleep(500);
  }
  return times.sort((a, b) => a - b);
});
const median = three[Math.floor(three.length / 2)]!;
console.log(`failover (leader SIGKILL -> first 250): median ${fmt(median)} ms, max ${fmt(three[three.length - 1]!)} ms, min ${fmt(three[0]!)} ms over ${three.length} trials`);
