// The Postfix + Dovecot baseline (shared/baseline/) as bench/smtp.ts uses it: is it installed, start and stop it
// (leaving it as found), and run its smtp-bench.sh harness against it or another server. Never changes the harness.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const postfixConf = '/etc/postfix-bench';
const dovecotConf = '/etc/dovecot-bench/dovecot.conf';
const dovecotPidFile = '/run/dovecot-bench/master.pid';
/** The baseline's mailboxes (setup.sh: mail_location = maildir:/srv/vmail/%d/%n/Maildir). */
export const baselineMailRoot = '/srv/vmail/example.test';
/** smtp-source, postfix and doveadm live in /usr/sbin, which a non-login PATH may lack. */
const path = `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin`;

/** Whether the harness (or the whole baseline) can run here, and why not. */
export interface BaselineStatus {
  readonly usable: boolean;
  /** Why it cannot be used, when it cannot. */
  readonly reason: string;
}

function onPath(cmd: string): boolean {
  return path.split(':').some((d) => d !== '' && existsSync(join(d, cmd)));
}

/** smtp-source and the harness's cgroup accounting: what driving any server with smtp-bench.sh needs. */
export function harnessUsable(dir: string): BaselineStatus {
  if (!existsSync(join(dir, 'smtp-bench.sh'))) return { usable: false, reason: `no harness at ${dir}/smtp-bench.sh` };
  if (!onPath('smtp-source')) return { usable: false, reason: "Postfix's smtp-source is not installed" };
  if (process.getuid?.() !== 0) return { usable: false, reason: 'the harness needs root (it accounts CPU through cgroups)' };
  if (!existsSync('/srv/vmail')) return { usable: false, reason: 'setup.sh has not run (no /srv/vmail)' };
  return { usable: true, reason: '' };
}

/** The whole baseline: the harness plus the bench Postfix and Dovecot instances setup.sh writes. */
export function detectBaseline(dir: string): BaselineStatus {
  const h = harnessUsable(dir);
  if (!h.usable) return h;
  if (!existsSync(join(postfixConf, 'main.cf')) || !existsSync(dovecotConf)) return { usable: false, reason: 'no postfix-bench / dovecot-bench instance' };
  if (!onPath('postfix') || !onPath('dovecot')) return { usable: false, reason: 'postfix or dovecot is not installed' };
  return { usable: true, reason: '' };
}

/**
 * Runs a command to its end. Output goes through a file, not a pipe: start.sh's daemons inherit
 * stdout and stderr and would hold a pipe open, so spawnSync would wait for them forever.
 */
function run(cmd: string, args: readonly string[]): { ok: boolean; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'stormo-smtp-bench-cmd-'));
  const file = join(dir, 'out');
  const fd = openSync(file, 'w');
  try {
    const r = spawnSync(cmd, args, { env: { ...process.env, PATH: path }, stdio: ['ignore', fd, fd] });
    return { ok: r.status === 0, out: readFileSync(file, 'utf8').trim() };
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
}

function postfixRunning(): boolean {
  return run('postfix', ['-c', postfixConf, 'status']).ok;
}

function dovecotRunning(): boolean {
  try {
    process.kill(Number(readFileSync(dovecotPidFile, 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts what is not running (through start.sh, which puts each master in its cgroup) and
 * returns the function that stops exactly what this call started.
 */
export function startBaseline(dir: string): { started: string[]; restore: () => void } {
  const wasPostfix = postfixRunning();
  const wasDovecot = dovecotRunning();
  const started = [...(wasDovecot ? [] : ['dovecot']), ...(wasPostfix ? [] : ['postfix'])];
  if (started.length > 0) {
    const r = run('bash', [join(dir, 'start.sh')]);
    if (!r.ok) throw new Error(`baseline start.sh failed:\n${r.out}`);
  }
  const restore = (): void => {
    if (!wasPostfix) run('postfix', ['-c', postfixConf, 'stop']);
    if (!wasDovecot && !run('doveadm', ['-c', dovecotConf, 'stop']).ok) {
      try {
        process.kill(Number(readFileSync(dovecotPidFile, 'utf8').trim()), 'SIGTERM');
      } catch {
        // already gone
      }
    }
  };
  return { started, restore };
}

/** Deletes the baseline's mailboxes: what smtp-bench.sh's CLEAN=1 does before a run. */
export async function wipeBaselineMail(): Promise<void> {
  await rm(baselineMailRoot, { recursive: true, force: true });
}

/** One result row of smtp-bench.sh (columns: SMTP_HEADER in shared/baseline/run-all.sh). */
export interface HarnessRow {
  readonly msgs: number;
  readonly acceptSeconds: number;
  readonly acceptMsgsPerSecond: number;
  readonly deliverSeconds: number;
  readonly deliverMsgsPerSecond: number;
  readonly deliverMBPerSecond: number;
  /** Postfix + Dovecot cgroups, over accept and delivery. */
  readonly serverCpuMsPerMsg: number;
  readonly sysBusyPct: number;
  readonly iowaitPct: number;
  readonly peakPssMB: number;
  readonly delivered: number;
  readonly deferred: number;
  readonly errors: number;
}

export function parseHarnessRow(line: string): HarnessRow {
  const c = line.split('\t');
  if (c.length < 21) throw new Error(`smtp-bench.sh printed an unexpected line: ${JSON.stringify(line)}`);
  const n = (i: number): number => Number(c[i]);
  return {
    msgs: n(2), acceptSeconds: n(4), acceptMsgsPerSecond: n(5), deliverSeconds: n(6), deliverMsgsPerSecond: n(7),
    deliverMBPerSecond: n(8), serverCpuMsPerMsg: n(12), sysBusyPct: n(13), iowaitPct: n(14), peakPssMB: n(16),
    delivered: n(18), deferred: n(19), errors: n(20),
  };
}

export interface HarnessRun {
  readonly dir: string;
  readonly sizeBytes: number;
  readonly msgs: number;
  readonly sessions: number;
  readonly label: string;
  /** SMTP_TARGET, COUNT_CMD, QUEUE_EMPTY_CMD, CLEAN, RESULTS... */
  readonly env: Record<string, string>;
}

/** The running harness, so a signal handler can end its process group (it forks smtp-source). */
let harnessChild: ChildProcess | undefined;

/**
 * smtp-bench.sh's scratch dir (mktemp -d /tmp/mailbench-run.XXXXXX), found on the command line of
 * its memwatch.sh (`memwatch.sh $WORK/mem $WORK/stop ...`) among the processes of its group.
 */
function harnessScratchDirs(pgid: number): string[] {
  const dirs = new Set<string>();
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue; // field 5: pgrp
      for (const m of readFileSync(`/proc/${pid}/cmdline`, 'utf8').matchAll(/\/tmp\/mailbench-run\.[A-Za-z0-9]+/g)) dirs.add(m[0]);
    } catch {
      // the process ended meanwhile
    }
  }
  return [...dirs];
}

export function runHarness(o: HarnessRun): Promise<{ row: HarnessRow; stderr: string }> {
  return new Promise((resolve, reject) => {
    const args = [join(o.dir, 'smtp-bench.sh'), String(o.sizeBytes), String(o.msgs), String(o.sessions), o.label];
    const child = spawn('bash', args, { env: { ...process.env, PATH: path, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    harnessChild = child;
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      harnessChild = undefined;
      const line = out.trim().split('\n').filter((l) => l.includes('\t')).pop();
      if (code !== 0 || line === undefined) return reject(new Error(`smtp-bench.sh exited ${code}:\n${out}${err}`));
      try {
        resolve({ row: parseHarnessRow(line), stderr: err.trim() });
      } catch (e) {
        reject(e);
      }
    });
  });
}

/** For a signal handler: end the harness and its smtp-source processes, and remove its scratch dir. */
export function killHarness(): void {
  const c = harnessChild;
  if (c?.pid === undefined) return;
  const scratch = harnessScratchDirs(c.pid);
  try {
    process.kill(-c.pid, 'SIGKILL');
  } catch {
    // already gone
  }
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
}
