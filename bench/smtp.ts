// SMTP ingest throughput of one stormo node (fsync on), side by side with Postfix -> LMTP -> Dovecot when the
// baseline in shared/baseline/ is installed. Prints one line per message size; never fails on timing.
//
// Usage: npm run bench:smtp [-- options]     (node bench/smtp.ts [options])
//   --msgs N           messages per size, rounded down to a multiple of 100 (default 2000)
//   --sizes LIST       message body sizes, bytes or with k: 2k,10k,100k (default; 1k = 1024 bytes)
//   --sessions N       concurrent SMTP connections (default 20)
//   --warmup N         2 KB messages sent to each system before measuring (default 500; 0: none)
//   --with-baseline    require the Postfix + Dovecot comparison (default: run it when installed)
//   --no-baseline      measure stormo alone
//   --driver D         auto | smtp-source | node (default auto: smtp-source when the harness can run)
//   --baseline-dir DIR shared/baseline (default ../shared/baseline from the repo root)
//   --cpu-prof         write a V8 CPU profile of the stormo node, keep it, and print where the time went
//   --node-arg ARG     an extra argument for the stormo node's Node.js (repeatable), e.g. --node-arg=--import=./x.mjs
//
// Both systems get the same workload: the baseline's own harness (smtp-bench.sh: Postfix's smtp-source,
// one message per connection, 100 users) drives stormo too, with its COUNT_CMD hook counting messages
// stored through the admin API. Without smtp-source, bench/smtp-load.ts sends the same workload.
// Cleans up on every exit path: the node process, its temp dir, and the baseline if this bench started it.

import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { summarizeProfile } from './cpuprofile-top.ts';
import {
  type BaselineStatus, type HarnessRow, detectBaseline, harnessUsable, killHarness, runHarness, startBaseline, wipeBaselineMail,
} from './smtp-baseline.ts';
import { runSmtpLoad } from './smtp-load.ts';
import { StormoNode } from './smtp-stormo.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const domain = 'example.test';
/** The baseline has user1..user100@example.test (setup.sh NUSERS); stormo gets the same. */
const users = 100;
const warmupSizeBytes = 2048;
const connectionTimeoutMs = 60_000;

interface Options {
  msgs: number;
  sizes: number[];
  sessions: number;
  warmup: number;
  baseline: 'auto' | 'require' | 'off';
  driver: 'smtp-source' | 'node' | 'auto';
  baselineDir: string;
  cpuProf: boolean;
  nodeArgs: string[];
}

let interrupted = false;

/** A bad command line: reported without a stack trace. */
class UsageError extends Error {}

function parseSize(s: string): number {
  const m = /^(\d+)\s*(k|kb|kib|m|mb|mib)?$/i.exec(s.trim());
  if (!m) throw new UsageError(`--sizes: cannot read ${JSON.stringify(s)} (bytes, or 10k)`);
  const unit = (m[2] ?? '').toLowerCase();
  return Number(m[1]) * (unit.startsWith('m') ? 1024 * 1024 : unit.startsWith('k') ? 1024 : 1);
}

function parseArgv(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      msgs: { type: 'string', default: '2000' },
      sizes: { type: 'string', default: '2k,10k,100k' },
      sessions: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '500' },
      'with-baseline': { type: 'boolean', default: false },
      'no-baseline': { type: 'boolean', default: false },
      driver: { type: 'string', default: 'auto' },
      'baseline-dir': { type: 'string', default: process.env.STORMO_BASELINE_DIR ?? join(repoRoot, '..', 'shared', 'baseline') },
      'cpu-prof': { type: 'boolean', default: false },
      'node-arg': { type: 'string', multiple: true, default: [] },
    },
  });
}

function parseOptions(argv: string[]): Options {
  let v: ReturnType<typeof parseArgv>['values'];
  try {
    v = parseArgv(argv).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const int = (name: string, s: string, min: number): number => {
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`--${name} takes an integer >= ${min}`);
    return n;
  };
  const msgs = int('msgs', v.msgs, users);
  if (!['auto', 'smtp-source', 'node'].includes(v.driver)) throw new UsageError('--driver: auto, smtp-source or node');
  if (v['with-baseline'] && v['no-baseline']) throw new UsageError('--with-baseline and --no-baseline exclude each other');
  return {
    msgs: msgs - (msgs % users),
    sizes: v.sizes.split(',').map(parseSize),
    sessions: int('sessions', v.sessions, 1),
    warmup: int('warmup', v.warmup, 0),
    baseline: v['with-baseline'] ? 'require' : v['no-baseline'] ? 'off' : 'auto',
    driver: v.driver as Options['driver'],
    baselineDir: resolve(v['baseline-dir']),
    cpuProf: v['cpu-prof'],
    nodeArgs: v['node-arg'],
  };
}

const sizeLabel = (b: number): string => (b % 1024 === 0 ? `${b / 1024} KB` : `${b} B`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** System-wide CPU jiffies: busy and total (as the harness's sys_cpu in lib.sh). */
function sysCpu(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]!;
  return { busy, total: busy + f[3]! + f[4]! };
}

const busyPct = (a: { busy: number; total: number }, b: { busy: number; total: number }): number =>
  b.total > a.total ? (100 * (b.busy - a.busy)) / (b.total - a.total) : 0;

/** Let the previous run's tail (Postfix's qmgr, LevelDB compaction) settle: busy < 15 % over 1 s, at most 10 s. */
async function waitQuiet(): Promise<number> {
  let pct = 100;
  for (let i = 0; i < 10 && pct >= 15; i++) {
    const a = sysCpu();
    await sleep(1000);
    pct = busyPct(a, sysCpu());
  }
  return pct;
}

interface StormoResult {
  /** System-wide busy % just before the run (other tenants of the machine disturb the figures). */
  readonly preBusyPct: number;
  readonly seconds: number;
  readonly stored: number;
  readonly failed: number;
  readonly cpuMsPerMsg: number;
  readonly sysBusyPct: number;
  readonly notes: string[];
}

interface Bench {
  readonly o: Options;
  readonly driver: 'smtp-source' | 'node';
  readonly node: StormoNode;
  readonly work: string;
}

/** One stormo run: `msgs` messages of `size` bytes; stored counted through the admin API before and after. */
async function runStormo(b: Bench, size: number, msgs: number, label: string): Promise<StormoResult> {
  const preBusyPct = await waitQuiet();
  const base = await b.node.storedMessages();
  const cpu0 = await b.node.cpuMs();
  const sys0 = sysCpu();
  let seconds: number;
  let failed = 0;
  const notes: string[] = [];
  if (b.driver === 'smtp-source') {
    const { row, stderr } = await runHarness({
      dir: b.o.baselineDir, sizeBytes: size, msgs, sessions: b.o.sessions, label,
      env: {
        SMTP_TARGET: `${b.node.smtp.host}:${b.node.smtp.port}`, COUNT_CMD: b.node.countCommand(), QUEUE_EMPTY_CMD: 'true', CLEAN: '0', CLEAN_CMD: '',
        NUSERS: String(users), RESULTS: join(b.work, 'stormo.tsv'),
      },
    });
    seconds = row.acceptSeconds;
    failed = row.errors;
    if (stderr !== '') notes.push(`harness: ${stderr.split('\n').slice(0, 3).join(' | ')}`);
  } else {
    const r = await runSmtpLoad({ host: b.node.smtp.host, port: b.node.smtp.port, sizeBytes: size, msgs, sessions: b.o.sessions, users, domain, connectionTimeoutMs });
    seconds = r.seconds;
    failed = r.failed;
    if (r.errors.length > 0) notes.push(`refused or failed: ${r.errors.join(' | ')}`);
  }
  const sysPct = busyPct(sys0, sysCpu());
  const cpuMs = (await b.node.cpuMs()) - cpu0;
  const stored = (await b.node.storedMessages()) - base;
  if (stored < msgs) notes.push(`only ${stored} of ${msgs} messages stored`);
  return { preBusyPct, seconds, stored, failed, cpuMsPerMsg: cpuMs / Math.max(1, stored), sysBusyPct: sysPct, notes };
}

async function runPostfix(b: Bench, size: number, msgs: number, label: string): Promise<HarnessRow & { preBusyPct: number }> {
  const preBusyPct = await waitQuiet();
  const { row, stderr } = await runHarness({
    dir: b.o.baselineDir, sizeBytes: size, msgs, sessions: b.o.sessions, label,
    // The harness's defaults: Postfix on 2525, Maildir counting, postqueue; CLEAN=1 wipes the baseline's mailboxes first.
    env: { SMTP_TARGET: '127.0.0.1:2525', COUNT_CMD: '', CLEAN_CMD: '', QUEUE_EMPTY_CMD: '', CLEAN: '1', NUSERS: String(users), RESULTS: join(b.work, 'postfix.tsv') },
  });
  if (stderr !== '') console.log(`  postfix harness: ${stderr.split('\n').slice(0, 3).join(' | ')}`);
  return { ...row, preBusyPct };
}

function report(b: Bench, size: number, s: StormoResult, p: (HarnessRow & { preBusyPct: number }) | undefined): void {
  const rate = s.stored / s.seconds;
  const head = `smtp bench ${sizeLabel(size)} x ${b.o.msgs} msgs, ${b.o.sessions} sessions`;
  const stormo = `stormo ${rate.toFixed(0)} msg/s accepted (stored+fsynced), ${s.cpuMsPerMsg.toFixed(2)} ms CPU/msg`;
  if (p === undefined) {
    console.log(`${head}: ${stormo}; postfix comparison skipped`);
  } else {
    const pf = `postfix+dovecot ${p.acceptMsgsPerSecond.toFixed(0)} msg/s accepted / ${p.deliverMsgsPerSecond.toFixed(0)} msg/s delivered, ${p.serverCpuMsPerMsg.toFixed(2)} ms CPU/msg`;
    const ratios = `stormo/postfix-delivered ${(rate / p.deliverMsgsPerSecond).toFixed(2)}x (stormo/postfix-accepted ${(rate / p.acceptMsgsPerSecond).toFixed(2)}x)`;
    console.log(`${head}: ${stormo}; ${pf}; ${ratios}`);
  }
  const failed = s.failed > 0 ? `, ${s.failed} SMTP failures` : '';
  let detail = `  stormo: ${s.stored}/${b.o.msgs} stored in ${s.seconds.toFixed(2)} s${failed}, system busy ${s.sysBusyPct.toFixed(0)}% (${s.preBusyPct.toFixed(0)}% before)`;
  if (p !== undefined) {
    detail += ` | postfix: accepted in ${p.acceptSeconds.toFixed(2)} s, ${p.delivered} delivered in ${p.deliverSeconds.toFixed(2)} s (${p.deliverMBPerSecond.toFixed(1)} MB/s)`;
    detail += `, ${p.deferred} deferred, ${p.errors} errors, system busy ${p.sysBusyPct.toFixed(0)}% (${p.preBusyPct.toFixed(0)}% before), iowait ${p.iowaitPct.toFixed(1)}%, peak PSS ${p.peakPssMB.toFixed(0)} MB`;
  }
  console.log(detail);
  for (const n of s.notes) console.log(`  stormo note: ${n}`);
}

function chooseDriver(o: Options): 'smtp-source' | 'node' {
  const h = harnessUsable(o.baselineDir);
  if (o.driver === 'smtp-source' && !h.usable) throw new UsageError(`--driver smtp-source: ${h.reason}`);
  if (o.driver !== 'auto') return o.driver;
  return h.usable ? 'smtp-source' : 'node';
}

/** Why the Postfix comparison does not run, or undefined when it does; throws when it was required and cannot run. */
function baselineSkipReason(o: Options, status: BaselineStatus, driver: 'smtp-source' | 'node'): string | undefined {
  if (o.baseline === 'off') return 'not requested (--no-baseline)';
  if (!status.usable) return status.reason;
  if (driver === 'node') {
    const why = 'the comparison needs the smtp-source driver (the same workload for both systems)';
    if (o.baseline === 'require') throw new UsageError(`--with-baseline with --driver node: ${why}`);
    return why;
  }
  return undefined;
}

const setupCommand = (o: Options): string => `bash ${relative(process.cwd(), join(o.baselineDir, 'setup.sh'))}`;

function header(o: Options, driver: string, node: StormoNode, skipped: string | undefined): void {
  const how = driver === 'smtp-source'
    ? `Postfix smtp-source via ${relative(process.cwd(), join(o.baselineDir, 'smtp-bench.sh'))} (the same workload for both systems)`
    : 'a Node raw-socket SMTP client (bench/smtp-load.ts), the same shape as smtp-source';
  console.log(`smtp bench: ${o.msgs} msgs per size to ${users} users, ${o.sessions} concurrent connections, one message per connection, HELO/MAIL/RCPT/DATA/QUIT; driver: ${how}`);
  const extra = o.nodeArgs.length > 0 ? `, node args ${o.nodeArgs.join(' ')}` : '';
  console.log(`stormo: one node process (pid ${node.pid}, ${process.version}${extra}), logLevel warn, fsync on (blob fsync + Raft log fsync): its 250 means stored and durable`);
  if (skipped === undefined) console.log("postfix+dovecot: the shared/baseline instance (127.0.0.1:2525 -> LMTP -> Maildir); Postfix's 250 means queued, delivered means written by Dovecot");
  else console.log(`postfix+dovecot comparison skipped: ${skipped}`);
}

function footer(o: Options, skipped: string | undefined, usable: boolean): void {
  console.log('CPU/msg: stormo = the node process, user+system, all threads (/proc/<pid>/stat) while sending; load generator excluded');
  if (skipped === undefined) {
    console.log('         postfix = postfix+dovecot cgroups over accept and delivery (smtp-bench.sh); load generator excluded');
    console.log("fair ratio: stormo accepted vs postfix delivered (Postfix answers 250 once the message is in its queue; stormo once it is stored)");
  } else if (!usable) {
    console.log(`postfix+dovecot comparison skipped; install the baseline once (as root, about a minute): ${setupCommand(o)}`);
    console.log('then: npm run bench:smtp -- --with-baseline');
  }
}

/** Undoes what the bench set up, most recent first. Runs once: a signal and the main path share one run. */
class Cleanup {
  private readonly steps: (() => Promise<void> | void)[] = [];
  private running: Promise<void> | undefined;
  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }
  run(): Promise<void> {
    this.running ??= this.runSteps();
    return this.running;
  }
  private async runSteps(): Promise<void> {
    while (this.steps.length > 0) {
      try {
        await this.steps.pop()!();
      } catch (e) {
        console.error(`cleanup: ${(e as Error).message}`);
      }
    }
  }
}

async function measure(b: Bench, withBaseline: boolean): Promise<void> {
  if (b.o.warmup > 0) {
    const n = Math.max(users, b.o.warmup - (b.o.warmup % users));
    await runStormo(b, warmupSizeBytes, n, 'stormo-warmup');
    if (withBaseline) await runPostfix(b, warmupSizeBytes, n, 'postfix-warmup');
  }
  for (const size of b.o.sizes) {
    const s = await runStormo(b, size, b.o.msgs, `stormo-${size}`);
    const p = withBaseline ? await runPostfix(b, size, b.o.msgs, `postfix-${size}`) : undefined;
    report(b, size, s, p);
  }
}

async function printProfiles(dir: string): Promise<void> {
  for (const f of (await readdir(dir)).filter((n) => n.endsWith('.cpuprofile'))) console.log(await summarizeProfile(join(dir, f), 25));
  console.log(`CPU profile kept in ${dir}: the node's main thread over its whole life (start, ${users} users created`);
  console.log('through the admin API, i.e. argon2 hashing, then warm-up and every size); fsync and LevelDB work on libuv threads is not in it');
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const status = detectBaseline(o.baselineDir);
  if (o.baseline === 'require' && !status.usable) {
    console.error(`--with-baseline: the Postfix + Dovecot baseline cannot run here: ${status.reason}`);
    console.error(`install it once (as root): ${setupCommand(o)}`);
    process.exitCode = 2;
    return;
  }
  const driver = chooseDriver(o);
  const skipped = baselineSkipReason(o, status, driver);
  const withBaseline = skipped === undefined;
  const cleanup = new Cleanup();
  let node: StormoNode | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupted = true;
    console.log(`${sig}: stopping the node${withBaseline ? ' and the baseline if this bench started it' : ''}, removing temp dirs`);
    killHarness();
    node?.killNow();
    void cleanup.run().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const work = await mkdtemp(join(tmpdir(), 'stormo-smtp-bench-work-'));
    cleanup.add(() => rm(work, { recursive: true, force: true }));
    const profDir = o.cpuProf ? await mkdtemp(join(tmpdir(), 'stormo-smtp-prof-')) : undefined;
    if (profDir !== undefined) cleanup.add(() => printProfiles(profDir));
    node = await StormoNode.start({ repoRoot, cpuProfDir: profDir, nodeArgs: o.nodeArgs });
    const n = node;
    cleanup.add(() => n.stop());
    await node.createUsers(domain, users);
    if (withBaseline) {
      const { started, restore } = startBaseline(o.baselineDir);
      cleanup.add(() => (started.length > 0 ? restore() : undefined));
      cleanup.add(wipeBaselineMail); // bench mail only: smtp-bench.sh CLEAN=1 wipes it before each run too
    }
    header(o, driver, node, skipped);
    await measure({ o, driver, node, work }, withBaseline);
    footer(o, skipped, status.usable);
    if (node.warnings > 0) console.log(`stormo node logged ${node.warnings} warnings or errors; last lines:\n${node.log.join('\n')}`);
  } finally {
    await cleanup.run();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().catch((e: unknown) => {
  if (interrupted) return; // the signal handler exits once cleanup is done
  if (e instanceof UsageError) {
    console.error(`${e.message} (usage: the comment at the top of bench/smtp.ts)`);
    process.exitCode = 2;
    return;
  }
  console.error(`smtp bench failed: ${(e as Error).stack ?? String(e)}`);
  process.exitCode = 1;
});
