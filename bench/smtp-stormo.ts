// A stormo node as a separate process for bench/smtp.ts: `stormo up` on OS-chosen loopback ports in a temp
// data dir, users made through the admin API, stored-message counts and the process's CPU time. Never src/.

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface StormoStartOptions {
  readonly repoRoot: string;
  /** Write a V8 CPU profile of the node into this folder (node --cpu-prof), kept after the bench. */
  readonly cpuProfDir?: string | undefined;
  /** Extra arguments for the node's Node.js, before the script (--import, --max-old-space-size...). */
  readonly nodeArgs?: readonly string[] | undefined;
}

const startTimeoutMs = 30_000;
const stopTimeoutMs = 15_000;
const logLinesKept = 40;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Clock ticks per second of /proc/<pid>/stat times (sysconf(_SC_CLK_TCK), 100 on Linux x86). */
function clockTicksPerSecond(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

export class StormoNode {
  readonly dir: string;
  readonly proc: ChildProcess;
  /** The node's last stdout/stderr lines (pino JSON at logLevel warn), for a failure report. */
  readonly log: string[] = [];
  warnings = 0;
  smtp = { host: '127.0.0.1', port: 0 };
  adminUrl = '';
  private authHeader = '';
  private exited = false;
  private exitStatus = '';
  private readonly ticksPerSecond = clockTicksPerSecond();

  private constructor(dir: string, proc: ChildProcess) {
    this.dir = dir;
    this.proc = proc;
    proc.once('exit', (code, signal) => {
      this.exited = true;
      this.exitStatus = signal ?? `status ${code}`;
    });
    const keep = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        if (/"level":(40|50|60)/.test(line)) this.warnings++;
        this.log.push(line);
        if (this.log.length > logLinesKept) this.log.shift();
      }
    };
    proc.stdout?.on('data', keep);
    proc.stderr?.on('data', keep);
  }

  /** `node bin/stormo.js up --config <tmp>` with every port 0; resolves once endpoints.json is written. */
  static async start(o: StormoStartOptions): Promise<StormoNode> {
    const dir = await mkdtemp(join(tmpdir(), 'stormo-smtp-bench-'));
    const dataDir = join(dir, 'data');
    const config = {
      dataDir,
      hostname: 'mx.stormo-bench.test',
      logLevel: 'warn',
      listen: { host: '127.0.0.1', smtp: 0, submission: 0, submissions: 0, pop3: 0, pop3s: 0, imap: 0, imaps: 0, admin: 0 },
    };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
    const localNode = join(o.repoRoot, 'node_modules', '.bin', 'node');
    const nodeBin = existsSync(localNode) ? localNode : process.execPath;
    const prof = o.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir];
    const proc = spawn(nodeBin, [...(o.nodeArgs ?? []), ...prof, join(o.repoRoot, 'bin', 'stormo.js'), 'up', '--config', join(dir, 'config.json')], {
      cwd: o.repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new StormoNode(dir, proc);
    try {
      await node.waitUp(dataDir);
    } catch (e) {
      await node.stop();
      throw e;
    }
    return node;
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  private async waitUp(dataDir: string): Promise<void> {
    const deadline = Date.now() + startTimeoutMs;
    const file = join(dataDir, 'endpoints.json');
    let e: { admin: string; smtp: string } | undefined;
    while (e === undefined) {
      if (this.exited) throw this.exitedError();
      if (Date.now() > deadline) throw new Error(`stormo node not up within ${startTimeoutMs} ms:\n${this.log.join('\n')}`);
      await sleep(50);
      // Absent until the node is up; parsed only once complete.
      e = await readFile(file, 'utf8')
        .then((t) => JSON.parse(t) as { admin: string; smtp: string })
        .catch(() => undefined);
    }
    const [host, port] = e.smtp.split(':');
    this.smtp = { host: host ?? '127.0.0.1', port: Number(port) };
    this.adminUrl = e.admin;
    this.authHeader = `Bearer ${(await readFile(join(dataDir, 'admin.token'), 'utf8')).trim()}`;
    // A header file for curl (-H @file), so the token never appears on a command line.
    await writeFile(join(this.dir, 'auth.header'), `authorization: ${this.authHeader}\n`, { mode: 0o600 });
  }

  async admin(method: string, path: string, body?: unknown): Promise<unknown> {
    const req = (): Promise<Response> =>
      fetch(`${this.adminUrl}${path}`, {
        method,
        headers: { authorization: this.authHeader, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    // A GET is retried (twice, 200 ms apart): a kept-alive connection the server closed while idle fails.
    const retry = (e: unknown): Promise<Response> => (method === 'GET' && !this.exited ? sleep(200).then(req) : Promise.reject(e));
    const res = await req()
      .catch(retry)
      .catch(retry)
      .catch((e: unknown) => {
        throw this.exited ? this.exitedError() : new Error(`admin ${method} ${path}: ${String((e as Error).cause ?? e)}`, { cause: e });
      });
    const text = await res.text();
    if (!res.ok) throw new Error(`admin ${method} ${path}: ${res.status} ${text}`);
    return text === '' ? undefined : JSON.parse(text);
  }

  /** The domain and user1..userN@domain (password hashing is argon2: a few in parallel). */
  async createUsers(domain: string, users: number): Promise<void> {
    await this.admin('POST', '/v1/domains', { name: domain });
    let next = 1;
    const worker = async (): Promise<void> => {
      while (next <= users) {
        const i = next++;
        await this.admin('POST', '/v1/users', { address: `user${i}@${domain}`, password: 'pass' });
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
  }

  /** Messages stored in all accounts (admin API: GET /v1/users, `messages` per user). */
  async storedMessages(): Promise<number> {
    const r = (await this.admin('GET', '/v1/users')) as { users: { messages: number }[] };
    return r.users.reduce((n, u) => n + u.messages, 0);
  }

  /** A shell command printing storedMessages(), for smtp-bench.sh's COUNT_CMD. */
  countCommand(): string {
    return `curl -sf -H @${join(this.dir, 'auth.header')} ${this.adminUrl}/v1/users | grep -o '"messages":[0-9]*' | awk -F: '{s+=$2} END{print s+0}'`;
  }

  /** CPU time (user+system, all threads) the node process used so far, ms; from /proc/<pid>/stat. */
  async cpuMs(): Promise<number> {
    const stat = await readFile(`/proc/${this.pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: state is field 3.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]); // utime (14), stime (15)
    return (ticks * 1000) / this.ticksPerSecond;
  }

  private exitedError(): Error {
    return new Error(`the stormo node exited (${this.exitStatus}); its last output:\n${this.log.join('\n')}`);
  }

  /** SIGTERM (the node closes its store), SIGKILL after stopTimeoutMs; then the temp dir goes. */
  async stop(): Promise<void> {
    if (!this.exited) {
      this.proc.kill('SIGTERM');
      const deadline = Date.now() + stopTimeoutMs;
      while (!this.exited && Date.now() < deadline) await sleep(20);
      if (!this.exited) this.proc.kill('SIGKILL');
      while (!this.exited) await sleep(10);
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  /** For a signal handler: no waiting. */
  killNow(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}
