// `npm run chaos -- --duration SECONDS --seed X`: a 3-node cluster as separate processes behind HAProxy,
// continuous SMTP deliveries and IMAP flag changes, a seeded nemesis, then the checker over every node.
// Ends with `chaos: accepted=A lost=L duplicated=D uid_violations=U max_unavailable_ms=M`.

import { createHash } from 'node:crypto';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { seededRandom } from '../src/raft/random.ts';
import { type CheckResult, type NodeView, check, longestGap } from './checker.ts';
import { freePortRange } from '../test/helpers/ports.ts';
import { portsPerNode } from '../src/cli/cluster-local.ts';
import { ChaosCluster } from './cluster.ts';
import { type PlannedFault, describeFault, planFaults } from './nemesis.ts';
import { History, imapWorkload, readView, smtpWorkload } from './workload.ts';

export interface ChaosOptions {
  durationS: number;
  seed: number;
  nodes: number;
  smtpWorkers: number;
  imapSessions: number;
  accounts: number;
  messageBytes: number;
  keepData: boolean;
  log: (line: string) => void;
}

export interface ChaosReport extends CheckResult {
  readonly maxUnavailableMs: number;
  readonly missingBlobCopies: number;
  readonly faults: number;
  readonly line: string;
}

const password = 'chaos-password-1';
/** After healing, views must agree within this. */
const convergeMs = 60_000;

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-chaos-'));
  const basePort = await freePortRange(o.nodes * portsPerNode);
  o.log(`chaos: seed=${o.seed} duration=${o.durationS}s nodes=${o.nodes} data=${dir}`);
  const cluster = await ChaosCluster.start(dir, o.nodes, basePort);
  try {
    await cluster.waitAllReady();
    const accounts = await createAccounts(cluster, o.accounts);
    await cluster.startBalancer();
    const history = new History();
    const random = seededRandom(o.seed ^ 0x5eed).float;
    const stop = new AbortController();
    const t0 = Date.now();
    const now = (): number => Date.now() - t0;
    const plan = planFaults(o.seed, o.nodes, o.durationS * 1000);
    o.log(`chaos: ${plan.length} faults planned: ${plan.map((f) => `${f.atMs}ms ${describeFault(f.fault)} ${f.durationMs}ms`).join(', ')}`);
    const work = Promise.all([
      smtpWorkload({ targets: () => cluster.balancerEndpoint('smtp'), accounts, workers: o.smtpWorkers, messageBytes: o.messageBytes, history, random, stop: stop.signal, now }),
      imapWorkload({ targets: () => cluster.balancerEndpoint('imap'), accounts, password, sessions: o.imapSessions, history, random, stop: stop.signal }),
    ]);
    await runNemesis(cluster, plan, t0, o.log);
    await sleep(Math.max(0, o.durationS * 1000 - now()));
    const endMs = now();
    stop.abort();
    await work;
    o.log(`chaos: workload stopped at ${endMs} ms; ${history.deliveries.length} deliveries tried, ${history.smtpFailures} without 250, ${history.flagAcks.length} flag changes acknowledged`);
    await cluster.healAll();
    await cluster.waitAllReady();
    const views = await convergedViews(cluster, accounts);
    const result = check(history.deliveries, views, history.flagAcks, history.observations);
    const missing = await missingBlobCopies(cluster, views);
    const gap = longestGap(history.deliveries, firstAck(history) ?? 0, endMs);
    const unavailable = gap.toMs - gap.fromMs;
    o.log(`chaos: longest stretch without a 250: ${gap.fromMs}..${gap.toMs} ms`);
    for (const p of result.problems) o.log(`chaos: problem: ${p}`);
    const line = `chaos: accepted=${result.accepted} lost=${result.lost} duplicated=${result.duplicated} uid_violations=${result.uidViolations} max_unavailable_ms=${unavailable}`;
    o.log(`chaos: flags_lost=${result.flagsLost} divergent_nodes=${result.divergentNodes} missing_blob_copies=${missing}`);
    return { ...result, maxUnavailableMs: unavailable, missingBlobCopies: missing, faults: plan.length, line };
  } finally {
    await cluster.stop();
    if (!o.keepData) await rm(dir, { recursive: true, force: true });
  }
}

function firstAck(h: History): number | undefined {
  const acks = h.deliveries.flatMap((d) => (d.ackMs === null ? [] : [d.ackMs]));
  return acks.length === 0 ? undefined : Math.min(...acks);
}

async function createAccounts(cluster: ChaosCluster, count: number): Promise<string[]> {
  const n1 = cluster.nodes[0]!;
  const ok = (r: { status: number }, what: string): void => {
    if (r.status !== 201 && r.status !== 200) throw new Error(`chaos: ${what} failed with HTTP ${r.status}`);
  };
  ok(await cluster.admin(n1, 'POST', '/v1/domains', { name: 'chaos.test' }), 'creating the domain');
  const accounts: string[] = [];
  for (let i = 1; i <= count; i++) {
    const address = `u${i}@chaos.test`;
    ok(await cluster.admin(n1, 'POST', '/v1/users', { address, password }), `creating ${address}`);
    accounts.push(address);
  }
  return accounts;
}

/** Execute the plan in real time: each fault at its time, undone after its duration. */
async function runNemesis(cluster: ChaosCluster, plan: readonly PlannedFault[], t0: number, log: (l: string) => void): Promise<void> {
  for (const f of plan) {
    await sleep(Math.max(0, t0 + f.atMs - Date.now()));
    const fault = f.fault;
    let node = fault.kind === 'kill' || fault.kind === 'pause' || fault.kind === 'isolate' ? cluster.nodes[fault.node]! : undefined;
    if (fault.kind === 'kill-leader') {
      const lead = await cluster.leader();
      node = cluster.nodes.find((n) => n.id === lead) ?? cluster.nodes[0]!;
    }
    log(`chaos: ${Date.now() - t0} ms: ${describeFault(fault)}${fault.kind === 'kill-leader' ? ` (${node!.id})` : ''} for ${f.durationMs} ms`);
    if (fault.kind === 'kill' || fault.kind === 'kill-leader') await cluster.kill(node!);
    else if (fault.kind === 'pause') cluster.pause(node!);
    else if (fault.kind === 'isolate') cluster.isolate(node!.id, false);
    else cluster.setLink(cluster.nodes[fault.a]!.id, cluster.nodes[fault.b]!.id, false);
    await sleep(f.durationMs);
    if (fault.kind === 'kill' || fault.kind === 'kill-leader') await cluster.startNode(node!);
    else if (fault.kind === 'pause') cluster.resume(node!);
    else if (fault.kind === 'isolate') cluster.isolate(node!.id, true);
    else cluster.setLink(cluster.nodes[fault.a]!.id, cluster.nodes[fault.b]!.id, true);
  }
}

/** Every node's view, read again until all agree (replication catches up after healing) or time runs out. */
async function convergedViews(cluster: ChaosCluster, accounts: readonly string[]): Promise<NodeView[]> {
  const deadline = Date.now() + convergeMs;
  for (;;) {
    const views = await Promise.all(cluster.nodes.map((n) => readView(n.id, cluster.endpoint(n, 'imap'), accounts, password)));
    const fp = views.map((v) => JSON.stringify([...v.accounts].map(([a, x]) => [a, x.uidValidity, x.messages.map((m) => [m.uid, m.id, m.sha256, [...m.flags].sort()])])));
    if (fp.every((f) => f === fp[0]) || Date.now() > deadline) return views;
    await sleep(1_000);
  }
}

/** Copies missing on disk: with N equal to the node count every node holds every body. */
async function missingBlobCopies(cluster: ChaosCluster, views: readonly NodeView[]): Promise<number> {
  const ids = new Set<string>();
  for (const v of views) for (const a of v.accounts.values()) for (const m of a.messages) if (m.blobId) ids.add(m.blobId);
  const deadline = Date.now() + convergeMs;
  for (;;) {
    let missing = 0;
    for (const id of ids) {
      for (const n of cluster.nodes) {
        const present = await access(join(n.dir, 'blobs', id.slice(0, 2), id.slice(2, 4), id)).then(() => true, () => false);
        if (!present) missing++;
      }
    }
    if (missing === 0 || Date.now() > deadline) return missing;
    await sleep(1_000);
  }
}

export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function cli(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '60' },
      seed: { type: 'string' },
      nodes: { type: 'string', default: '3' },
      'smtp-workers': { type: 'string', default: '8' },
      'imap-sessions': { type: 'string', default: '4' },
      accounts: { type: 'string', default: '20' },
      'message-bytes': { type: 'string', default: '4096' },
      'keep-data': { type: 'boolean', default: false },
    },
  });
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
  const r = await runChaos({
    durationS: Number(values.duration),
    seed,
    nodes: Number(values.nodes),
    smtpWorkers: Number(values['smtp-workers']),
    imapSessions: Number(values['imap-sessions']),
    accounts: Number(values.accounts),
    messageBytes: Number(values['message-bytes']),
    keepData: values['keep-data'],
    log: (l) => console.log(l),
  });
  console.log(r.line);
  process.exitCode = r.lost === 0 && r.duplicated === 0 && r.uidViolations === 0 && r.flagsLost === 0 && r.missingBlobCopies === 0 ? 0 : 1;
}

if (import.meta.main) await cli();
