// Test harness for the washer's daemons: spamd, rspamd, clamd and dnsmasq as child processes on loopback.
// Each gets its own temp config and a free port, is awaited until it answers (bounded), and is killed afterwards.

import { spawn, type ChildProcess } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import dgram from 'node:dgram';
import { accessSync, constants, readdirSync } from 'node:fs';
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** Absolute path of a daemon binary, or null when it is not installed. */
export function binary(name: string): string | null {
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin', '/bin', ...(process.env['PATH'] ?? '').split(':')]) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

/** The reason to skip a test when one of `names` is missing, or false when all are installed. */
export function missing(...names: string[]): string | false {
  const absent = names.filter((n) => binary(n) === null);
  return absent.length === 0 ? false : `not installed: ${absent.join(', ')} (CI installs them)`;
}

export interface Daemon {
  readonly name: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly pid: number;
  /** Milliseconds from spawn until the daemon answered. */
  readonly startupMs: number;
  /** Output so far (stdout and stderr), for failure messages. */
  output(): string;
  /** SIGKILL the whole process group now (a scanner dying mid-run). */
  kill(): void;
  /** Sends `signal` to the whole process group (SIGSTOP: a hung scanner; SIGCONT: it wakes up). */
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after 3 s; resolves when the main process is gone. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of running) killGroup(c, 'SIGKILL');
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // the daemon's own process group: its workers too, nobody else's
  } catch {
    // already gone
  }
}

const isRoot = process.getuid?.() === 0;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A TCP port that was free a moment ago (and its UDP twin, for DNS). */
export async function freePort(udpToo = false): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    if (!udpToo) return port;
    const ok = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('daemons: no free port found');
}

async function launch(name: string, cmd: string, args: string[], port: number, ready: () => Promise<boolean>, timeoutMs: number): Promise<Daemon> {
  const started = performance.now();
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  const keep = (b: Buffer): void => {
    if (out.length < 64 * 1024) out += b.toString('utf8');
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  exited.then(() => running.delete(child), () => {});
  const daemon: Daemon = {
    name,
    host: '127.0.0.1',
    port,
    pid: child.pid ?? -1,
    startupMs: 0,
    output: () => out,
    kill: () => killGroup(child, 'SIGKILL'),
    signal: (sig) => killGroup(child, sig),
    stop: async () => {
      killGroup(child, 'SIGTERM');
      const t = setTimeout(() => killGroup(child, 'SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
      killGroup(child, 'SIGKILL'); // workers that outlived their parent
    },
  };
  const deadline = started + timeoutMs;
  while (performance.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited during startup:\n${out}`);
    if (await ready().catch(() => false)) return { ...daemon, startupMs: Math.round(performance.now() - started) };
    await sleep(50);
  }
  await daemon.stop();
  throw new Error(`${name} did not answer within ${timeoutMs} ms:\n${out}`);
}

/** One request/response exchange on a fresh TCP connection, bounded by `timeoutMs`. */
export function tcpExchange(port: number, request: string | Buffer, timeoutMs = 1000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    const t = setTimeout(() => s.destroy(new Error('timeout')), timeoutMs);
    s.on('connect', () => s.end(request));
    s.on('data', (b: Buffer) => (data += b.toString('latin1')));
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(data);
    });
  });
}

// ---------------------------------------------------------------- spamd

export interface SpamdOptions {
  /** Extra lines for local.cf (scores of custom rules, for instance). */
  readonly localCf?: string;
  /** Listen here (a restart on the old port); default a free one. */
  readonly port?: number;
}

/** spamd with the Debian rules, no network tests, Bayes in `dir`, learning over TELL allowed. */
export async function startSpamd(dir: string, o: SpamdOptions = {}): Promise<Daemon> {
  const spamd = binary('spamd');
  if (spamd === null) throw new Error('spamd not installed');
  const site = join(dir, 'site');
  const bayes = join(dir, 'bayes');
  await mkdir(site, { recursive: true });
  await mkdir(bayes, { recursive: true });
  await chmod(bayes, 0o777); // spamd's children run as nobody when we are root...
  if (isRoot) await traversable(site); // ...and must read the site config through mkdtemp's 0700 folders
  for (const f of readdirSync('/etc/spamassassin').filter((n) => n.endsWith('.pre'))) await copyFile(join('/etc/spamassassin', f), join(site, f));
  const cf = [
    'use_bayes 1',
    'bayes_auto_learn 0',
    `bayes_path ${join(bayes, 'bayes')}`,
    'bayes_file_mode 0777',
    'lock_method flock',
    o.localCf ?? '',
  ];
  await writeFile(join(site, 'local.cf'), `${cf.join('\n')}\n`);
  const port = o.port ?? (await freePort());
  const args = [
    `--listen=127.0.0.1:${port}`, '--local', '--nouser-config', `--siteconfigpath=${site}`, '--allow-tell',
    '--max-children=4', '--min-children=2', '--syslog=stderr', `--pidfile=${join(dir, 'spamd.pid')}`,
    ...(isRoot ? ['-u', 'nobody'] : []),
  ];
  return launch('spamd', spamd, args, port, async () => (await tcpExchange(port, 'PING SPAMC/1.5\r\n\r\n')).includes('PONG'), 30_000);
}

/** Lets other users (nobody) reach `dir`: execute on each folder up to the temp root, read on `dir`. */
async function traversable(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  const root = resolve(tmpdir());
  for (let d = dirname(resolve(dir)); d.startsWith(`${root}/`); d = dirname(d)) await chmod(d, 0o711);
}

// ---------------------------------------------------------------- rspamd

export interface RspamdDaemon extends Daemon {
  /** The controller worker (learning, stat). */
  readonly controllerPort: number;
  readonly password: string;
}

/** rspamd from a private config: normal + controller workers on loopback, no fuzzy, no hyperscan, Bayes in sqlite3. */
export async function startRspamd(dir: string, o: { dnsPort: number }): Promise<RspamdDaemon> {
  const rspamd = binary('rspamd');
  if (rspamd === null) throw new Error('rspamd not installed');
  const conf = join(dir, 'conf');
  const db = join(dir, 'db');
  const run = join(dir, 'run');
  for (const d of [join(conf, 'local.d'), join(conf, 'override.d'), db, run]) await mkdir(d, { recursive: true });
  for (const d of [db, run]) await chmod(d, 0o777); // the workers run as nobody when we are root...
  if (isRoot) await traversable(conf); // ...and reach their folders through mkdtemp's 0700 ones
  const hsCache = join(tmpdir(), 'stormo-rspamd-hs-cache');
  await mkdir(hsCache, { recursive: true });
  await chmod(hsCache, 0o777);
  const port = await freePort();
  const controllerPort = await freePort();
  const password = 'stormo-test';
  const files: Record<string, string> = {
    'override.d/worker-normal.inc': `bind_socket = "127.0.0.1:${port}";\ncount = 1;\n`,
    'override.d/worker-controller.inc': `bind_socket = "127.0.0.1:${controllerPort}";\ncount = 1;\npassword = "${password}";\nenable_password = "${password}";\nsecure_ip = "127.0.0.1";\nstatic_dir = "\${WWWDIR}";\n`,
    'override.d/worker-proxy.inc': 'enabled = false;\n',
    'override.d/worker-fuzzy.inc': 'enabled = false;\n',
    // fuzzy_check resolves rspamd.com's servers at startup: ~10 s of timeouts without internet.
    'override.d/fuzzy_check.conf': 'enabled = false;\n',
    'override.d/logging.inc': 'type = "console";\nlevel = "error";\n',
    // hyperscan compiles the TLD list and every regexp at startup (~15 s); the compiled
    // databases are content-addressed, so one cache shared by all runs makes later starts < 1 s.
    'local.d/options.inc': `dns { nameserver = ["127.0.0.1:${o.dnsPort}"]; timeout = 1s; retransmits = 1; }\nhs_cache_dir = "${hsCache}";\n`,
    // Bayes without redis: the sqlite3 backend (rspamd 3.4 still ships it).
    'override.d/classifier-bayes.conf': [
      'backend = "sqlite3";',
      'min_learns = 1;',
      'cache { path = "${DBDIR}/learn_cache.sqlite"; }',
      'statfile { symbol = "BAYES_HAM"; spam = false; path = "${DBDIR}/bayes.ham.sqlite"; }',
      'statfile { symbol = "BAYES_SPAM"; spam = true; path = "${DBDIR}/bayes.spam.sqlite"; }',
      '',
    ].join('\n'),
  };
  for (const [f, text] of Object.entries(files)) await writeFile(join(conf, f), text);
  const args = [
    '-f', '-c', '/etc/rspamd/rspamd.conf', `--var=LOCAL_CONFDIR=${conf}`, `--var=DBDIR=${db}`, `--var=RUNDIR=${run}`, `--var=LOGDIR=${dir}`,
    ...(isRoot ? ['-u', 'nobody', '-g', 'nogroup'] : []),
  ];
  const ping = async (p: number): Promise<boolean> => (await tcpExchange(p, `GET /ping HTTP/1.0\r\n\r\n`)).includes('pong');
  const d = await launch('rspamd', rspamd, args, port, async () => (await ping(port)) && (await ping(controllerPort)), 30_000);
  return { ...d, controllerPort, password };
}

// ---------------------------------------------------------------- clamd

export const eicar = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*';
export const eicarSignature = 'Stormo-Test-EICAR';

/**
 * clamd loading one signature: the EICAR string as a body pattern (`.ndb`, target 0 = any file), so it
 * is found anywhere (an attachment, a plain body with a line end after it), as ClamAV's own signature
 * finds it. No freshclam.
 */
export async function startClamd(dir: string, o: { port?: number } = {}): Promise<Daemon> {
  const clamd = binary('clamd');
  if (clamd === null) throw new Error('clamd not installed');
  const db = join(dir, 'db');
  await mkdir(db, { recursive: true });
  await writeFile(join(db, 'test.ndb'), `${eicarSignature}:0:*:${Buffer.from(eicar).toString('hex')}\n`);
  const port = o.port ?? (await freePort());
  const conf = [
    'Foreground yes',
    `TCPSocket ${port}`,
    'TCPAddr 127.0.0.1',
    `DatabaseDirectory ${db}`,
    `LogFile ${join(dir, 'clamd.log')}`,
    'StreamMaxLength 30M',
    ...(isRoot ? ['User root'] : []),
  ];
  await writeFile(join(dir, 'clamd.conf'), `${conf.join('\n')}\n`);
  return launch('clamd', clamd, ['-c', join(dir, 'clamd.conf')], port, async () => (await tcpExchange(port, 'zPING\0')).includes('PONG'), 30_000);
}

// ---------------------------------------------------------------- dnsmasq

export interface DnsZone {
  /** Names answered NXDOMAIN unless listed below (dnsmasq `local=`). */
  readonly localDomains: readonly string[];
  /** TXT records: one string, or several (a long DKIM key split in 255-octet strings). */
  readonly txt?: Readonly<Record<string, string | readonly string[]>>;
  readonly a?: Readonly<Record<string, string>>;
  /** PTR records by IPv4 address. */
  readonly ptr?: Readonly<Record<string, string>>;
}

/** Splits a TXT value into strings of at most 255 octets (RFC 1035 §3.3.14). */
export function txtStrings(value: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < value.length; i += 255) out.push(value.slice(i, i + 255));
  return out;
}

function dnsmasqConf(port: number, z: DnsZone): string {
  const q = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const lines = ['no-resolv', 'no-hosts', 'no-poll', 'bind-interfaces', 'listen-address=127.0.0.1', `port=${port}`, 'log-queries=no'];
  for (const d of z.localDomains) lines.push(`local=/${d}/`);
  for (const [name, v] of Object.entries(z.txt ?? {})) {
    const parts = typeof v === 'string' ? txtStrings(v) : v;
    lines.push(`txt-record=${name},${parts.map(q).join(',')}`);
  }
  for (const [name, ip] of Object.entries(z.a ?? {})) lines.push(`address=/${name}/${ip}`);
  for (const [ip, name] of Object.entries(z.ptr ?? {})) lines.push(`ptr-record=${ip.split('.').reverse().join('.')}.in-addr.arpa,${name}`);
  return `${lines.join('\n')}\n`;
}

/** dnsmasq serving only `zone`, on a free loopback port (UDP and TCP). */
export async function startDnsmasq(dir: string, zone: DnsZone): Promise<Daemon> {
  const dnsmasq = binary('dnsmasq');
  if (dnsmasq === null) throw new Error('dnsmasq not installed');
  await mkdir(dir, { recursive: true });
  const port = await freePort(true);
  const conf = join(dir, 'dnsmasq.conf');
  await writeFile(conf, dnsmasqConf(port, zone));
  const resolver = new Resolver({ timeout: 300, tries: 1 });
  resolver.setServers([`127.0.0.1:${port}`]);
  const probe = async (): Promise<boolean> => {
    try {
      await resolver.resolveTxt(`stormo-probe.${zone.localDomains[0] ?? 'test'}`);
      return true;
    } catch (e) {
      return (e as { code?: string }).code === 'ENOTFOUND' || (e as { code?: string }).code === 'ENODATA';
    }
  };
  return launch('dnsmasq', dnsmasq, ['-k', `--conf-file=${conf}`, '--pid-file', ...(isRoot ? ['--user=root'] : [])], port, probe, 10_000);
}
