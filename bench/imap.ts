// IMAP read/write benchmark of stormo's IMAP server, side by side with Dovecot (shared/baseline/) when it is
// installed: logins/s, FETCH (FLAGS ENVELOPE) msg/s, FETCH BODY[] MB/s, SEARCH TEXT over a 10,000-message
// mailbox (ms), STORE ops/s. The same client code measures both. Prints figures; never fails on timing.
//
// Usage: npm run bench:imap [-- options]     (node bench/imap.ts [options])
//   --users N            users user1..userN@example.test, password "pass" (default 100, the baseline's count)
//   --messages N         messages per user's INBOX (default 1000)
//   --search-messages N  messages in user1's folder "Big" for SEARCH TEXT (default 10000)
//   --concurrency N      sessions at once (default 10)
//   --logins N           logins measured (default 500)
//   --stores N           STORE commands measured (default 5000)
//   --no-baseline        measure stormo alone
//   --baseline-dir DIR   shared/baseline (default ../shared/baseline from the repo root)
//
// Workload: messages of mixed sizes (1, 4, 16, 64 KB bodies at 50/30/15/5 %; a tenth multipart with an
// attachment), unique per user (no deduplication helps either side); 1 in 100 carries the word searched.
// stormo is filled through its store (blob, MIME summary, append: what an SMTP delivery does); Dovecot over
// IMAP APPEND with LITERAL+ (so it builds its own index), skipped when a previous run left the same counts.
// Differences to keep in mind: the baseline's Dovecot stores {PLAIN} passwords, stormo argon2id (19 MiB x 2),
// so logins/s compares password hashing more than IMAP; Dovecot parses ENVELOPE on first FETCH, stormo at
// delivery. Cleans up on every exit: the server, its temp dir, and the baseline if this bench started it.

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BlobStore } from '../src/blob/index.ts';
import { ImapServer, summaryExtras } from '../src/imap/index.ts';
import { type AccountId, Store } from '../src/store/index.ts';
import { hashPassword } from '../src/store/password.ts';
import { startBaseline } from './smtp-baseline.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const domain = 'example.test';
const password = 'pass';
const dovecotPort = 1143;
const searchFolder = 'Big';
const needle = 'zebrafish';
const commandTimeoutMs = 300_000;

interface Options {
  users: number;
  messages: number;
  searchMessages: number;
  concurrency: number;
  logins: number;
  stores: number;
  baseline: boolean;
  baselineDir: string;
}

class UsageError extends Error {}

function options(argv: string[]): Options {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      users: { type: 'string', default: '100' },
      messages: { type: 'string', default: '1000' },
      'search-messages': { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '10' },
      logins: { type: 'string', default: '500' },
      stores: { type: 'string', default: '5000' },
      'no-baseline': { type: 'boolean', default: false },
      'baseline-dir': { type: 'string', default: process.env.STORMO_BASELINE_DIR ?? join(repoRoot, '..', 'shared', 'baseline') },
    },
  });
  const int = (name: string, s: string, min: number, max: number): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer in ${min}..${max}, got ${s}`);
    return n;
  };
  return {
    users: int('users', v.users, 1, 100), // the baseline has 100 users
    messages: int('messages', v.messages, 1, 100_000),
    searchMessages: int('search-messages', v['search-messages'], 1, 1_000_000),
    concurrency: int('concurrency', v.concurrency, 1, 200),
    logins: int('logins', v.logins, 1, 1_000_000),
    stores: int('stores', v.stores, 1, 10_000_000),
    baseline: !v['no-baseline'],
    baselineDir: v['baseline-dir'],
  };
}

// ---- Workload ----

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const words = 'mail store cluster raft replica blob message folder flag search index quorum leader term log commit apply snapshot node'.split(' ');

/** Message `i` of `user` (deterministic, unique per user); `i` < 0 are the search folder's messages. */
function message(user: number, i: number): Buffer {
  const r = rng(user * 1_000_003 + i + 7);
  const x = r();
  const bodyBytes = x < 0.5 ? 1024 : x < 0.8 ? 4096 : x < 0.95 ? 16_384 : 65_536;
  const lines: string[] = [];
  let size = 0;
  if (Math.abs(i) % 100 === 42) lines.push(`the ${needle} swims here`);
  while (size < bodyBytes) {
    const line = Array.from({ length: 10 }, () => words[Math.floor(r() * words.length)]).join(' ');
    lines.push(line);
    size += line.length + 2;
  }
  const head = [
    `From: Sender ${i % 50} <sender${i % 50}@example.org>`, `To: user${user} <user${user}@${domain}>`,
    `Subject: bench message ${i} for user ${user}`, `Date: Mon, 23 Nov 2026 ${String(Math.abs(i) % 24).padStart(2, '0')}:00:00 +0000`,
    `Message-ID: <${user}.${i}@bench.example.org>`, 'MIME-Version: 1.0',
  ];
  const text = lines.join('\r\n');
  if (Math.abs(i) % 10 !== 3) return Buffer.from(`${head.join('\r\n')}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n${text}\r\n`);
  const attachment = Buffer.alloc(2048, i & 0xff).toString('base64').replace(/.{76}/g, '$&\r\n');
  return Buffer.from(
    `${head.join('\r\n')}\r\nContent-Type: multipart/mixed; boundary="b${i}"\r\n\r\n--b${i}\r\nContent-Type: text/plain\r\n\r\n${text}\r\n` +
      `--b${i}\r\nContent-Type: application/octet-stream; name="a.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n${attachment}\r\n--b${i}--\r\n`,
  );
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

// ---- A lean IMAP client: counts responses and literal octets without keeping them ----

interface Tagged {
  readonly tagged: string;
  /** Untagged responses (text before any literal), when asked for. */
  readonly lines: string[];
  readonly responses: number;
  readonly literalBytes: number;
}

class Conn {
  private readonly socket: net.Socket;
  private pending: Buffer = Buffer.alloc(0);
  private skip = 0;
  private lineHead = '';
  private tagNo = 0;
  private readonly waiting = new Map<string, { resolve: (t: Tagged) => void; reject: (e: Error) => void; collect: boolean; lines: string[]; responses: number; literalBytes: number }>();
  private order: string[] = [];
  private failed: Error | undefined;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => this.onData(d));
    const fail = (e: Error): void => {
      this.failed ??= e;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed')));
  }

  static async open(port: number): Promise<Conn> {
    const socket = net.connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    const c = new Conn(socket);
    const greeting = new Promise<Tagged>((resolve, reject) => {
      c.waiting.set('*', { resolve, reject, collect: true, lines: [], responses: 0, literalBytes: 0 });
      c.order.push('*');
    });
    await greeting;
    return c;
  }

  private onData(d: Buffer): void {
    const buf = this.pending.length > 0 ? Buffer.concat([this.pending, d]) : d;
    let pos = 0;
    for (;;) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, buf.length - pos);
        this.skip -= n;
        pos += n;
        const w = this.waiting.get(this.order[0] ?? '');
        if (w) w.literalBytes += n;
        if (this.skip > 0) break;
        continue;
      }
      const lf = buf.indexOf(0x0a, pos);
      if (lf < 0) break;
      const line = buf.toString('latin1', pos, lf + 1);
      pos = lf + 1;
      const lit = /\{(\d+)\}\r?\n$/.exec(line);
      if (lit) {
        if (this.lineHead === '') this.lineHead = line;
        this.skip = Number(lit[1]);
        continue;
      }
      this.response(this.lineHead === '' ? line.trimEnd() : this.lineHead);
      this.lineHead = '';
    }
    this.pending = pos < buf.length ? buf.subarray(pos) : Buffer.alloc(0);
  }

  private response(text: string): void {
    const head = this.order[0];
    const w = head === undefined ? undefined : this.waiting.get(head);
    if (head === undefined || !w) return;
    if (head === '*' || (text.startsWith(`${head} `))) {
      if (head === '*') w.lines.push(text);
      this.order.shift();
      this.waiting.delete(head);
      w.resolve({ tagged: text, lines: w.lines, responses: w.responses, literalBytes: w.literalBytes });
      return;
    }
    w.responses++;
    if (w.collect) w.lines.push(text);
  }

  /** Sends a command (its literals inline with LITERAL+ when given as buffers) and resolves at its tagged reply. */
  send(text: string, o: { collect?: boolean; literal?: Buffer } = {}): Promise<Tagged> {
    if (this.failed) return Promise.reject(this.failed);
    const tag = `b${++this.tagNo}`;
    const p = new Promise<Tagged>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timeout: ${tag} ${text.slice(0, 60)}`)), commandTimeoutMs);
      this.waiting.set(tag, {
        resolve: (x) => { clearTimeout(t); resolve(x); },
        reject: (e) => { clearTimeout(t); reject(e); },
        collect: o.collect === true, lines: [], responses: 0, literalBytes: 0,
      });
    });
    this.order.push(tag);
    if (o.literal) this.socket.write(Buffer.concat([Buffer.from(`${tag} ${text} {${o.literal.length}+}\r\n`), o.literal, Buffer.from('\r\n')]));
    else this.socket.write(`${tag} ${text}\r\n`);
    return p;
  }

  async ok(text: string, o: { collect?: boolean; literal?: Buffer } = {}): Promise<Tagged> {
    const r = await this.send(text, o);
    if (!/^\S+ OK/.test(r.tagged)) throw new Error(`${text.slice(0, 60)}: ${r.tagged}`);
    return r;
  }

  close(): void {
    this.socket.destroy();
  }
}

async function login(port: number, user: number): Promise<Conn> {
  const c = await Conn.open(port);
  await c.ok(`LOGIN user${user}@${domain} ${password}`);
  return c;
}

async function logout(c: Conn): Promise<void> {
  await c.send('LOGOUT').catch(() => undefined);
  c.close();
}

// ---- Filling ----

interface StormoSide {
  readonly port: number;
  close(): Promise<void>;
}

async function startStormo(o: Options): Promise<StormoSide> {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-imap-bench-'));
  const store = await Store.open({ dir, nodeId: 'n1' });
  const blobs = await BlobStore.open(join(dir, 'blobs'));
  const server = new ImapServer({
    config: { plain: { host: '127.0.0.1', port: 0 }, allowPlaintextAuth: true, connectionsPerUserMax: 1000, connectionsPerIpMax: 10_000, authFailureDelayMs: 0 },
    store, blobs,
  });
  const side: StormoSide = {
    port: 0,
    async close() {
      await server.close().catch(() => undefined);
      await store.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    const port = (await server.listen()).plain?.port ?? 0;
    await store.execute({ type: 'createDomain', name: domain, tenant: 'default' });
    const hash = await hashPassword(password); // one argon2id hash: every user verifies at full cost anyway
    const ids: AccountId[] = [];
    for (let u = 1; u <= o.users; u++) {
      ids.push((await store.execute<{ accountId: AccountId }>({ type: 'createAccount', address: `user${u}@${domain}`, passwordHash: hash, quotaBytes: 0 })).accountId);
    }
    await store.execute({ type: 'createFolder', accountId: ids[0]!, name: searchFolder, specialUse: null });
    const jobs: { user: number; i: number; folder: string }[] = [];
    for (let u = 1; u <= o.users; u++) for (let i = 0; i < o.messages; i++) jobs.push({ user: u, i, folder: 'INBOX' });
    for (let i = 1; i <= o.searchMessages; i++) jobs.push({ user: 1, i: -i, folder: searchFolder });
    const t0 = performance.now();
    await pool(jobs, 32, async ({ user, i, folder }) => {
      const bytes = message(user, i);
      const { id: blobId } = await blobs.put(bytes);
      const extras = summaryExtras(bytes);
      await store.execute({
        type: 'append', accountId: ids[user - 1]!, folder, blobId, size: bytes.length, internalDate: Date.now(), flags: [], ignoreQuota: true, ...(extras ? { extras } : {}),
      });
    });
    log(`stormo filled: ${jobs.length} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s (through the store)`);
    return { ...side, port };
  } catch (e) {
    await side.close();
    throw e;
  }
}

async function exists(c: Conn, folder: string): Promise<number> {
  const r = await c.send(`EXAMINE ${folder}`, { collect: true });
  if (!/^\S+ OK/.test(r.tagged)) return -1;
  const m = r.lines.map((l) => /^\* (\d+) EXISTS/.exec(l)).find((x) => x);
  return m ? Number(m[1]) : 0;
}

/** Whether the examined folder holds this bench's messages (its first and last by Message-ID), not others'. */
async function isBenchFolder(c: Conn, user: number, ids: number[]): Promise<boolean> {
  for (const i of [ids[0], ids.at(-1)]) {
    const r = await c.send(`SEARCH HEADER Message-ID "<${user}.${i}@bench.example.org>"`, { collect: true });
    if (!r.lines.some((l) => /^\* SEARCH \d/.test(l))) return false;
  }
  return true;
}

/** Brings a Dovecot folder to exactly the bench's messages: reused when the count matches, else refilled. */
async function fillDovecotFolder(c: Conn, user: number, folder: string, ids: number[]): Promise<number> {
  const have = await exists(c, folder);
  if (have === ids.length && (await isBenchFolder(c, user, ids))) return 0;
  if (have < 0) await c.ok(`CREATE ${folder}`);
  if (have > 0) {
    await c.ok(`SELECT ${folder}`);
    await c.ok('STORE 1:* +FLAGS.SILENT (\\Deleted)');
    await c.ok('EXPUNGE');
  }
  await c.ok('UNSELECT').catch(() => undefined);
  const batch = 50;
  for (let k = 0; k < ids.length; k += batch) {
    await Promise.all(ids.slice(k, k + batch).map((i) => c.ok(`APPEND ${folder} ()`, { literal: message(user, i) })));
  }
  return ids.length;
}

async function fillDovecot(o: Options): Promise<void> {
  const t0 = performance.now();
  let appended = 0;
  const users = Array.from({ length: o.users }, (_, k) => k + 1);
  await pool(users, o.concurrency, async (u) => {
    const c = await login(dovecotPort, u);
    try {
      const inbox = await fillDovecotFolder(c, u, 'INBOX', Array.from({ length: o.messages }, (_, i) => i));
      const big = u === 1 ? await fillDovecotFolder(c, u, searchFolder, Array.from({ length: o.searchMessages }, (_, i) => -(i + 1))) : 0;
      appended += inbox + big;
    } finally {
      await logout(c);
    }
  });
  log(appended === 0 ? 'dovecot: mailboxes from a previous run reused' : `dovecot filled: ${appended} messages in ${((performance.now() - t0) / 1000).toFixed(1)} s (IMAP APPEND)`);
}

// ---- Measurements (identical for both servers) ----

interface Figures {
  loginsPerSecond: number;
  envelopeMsgsPerSecond: number;
  bodyMBPerSecond: number;
  searchMsFirst: number;
  searchMsMedian: number;
  searchHits: number;
  storeOpsPerSecond: number;
}

const seconds = (t0: number): number => (performance.now() - t0) / 1000;

async function measure(port: number, o: Options): Promise<Figures> {
  const users = Array.from({ length: o.users }, (_, k) => k + 1);
  let t0 = performance.now();
  const attempts = Array.from({ length: o.logins }, (_, k) => (k % o.users) + 1);
  await pool(attempts, o.concurrency, async (u) => logout(await login(port, u)));
  const loginsPerSecond = o.logins / seconds(t0);

  // Sessions log in and select first, so the FETCH figures time FETCH alone.
  const fetchAll = async (items: string, count: (r: Tagged) => number): Promise<[number, number]> => {
    const sessions: Conn[] = [];
    try {
      await pool(users, o.concurrency, async (u) => {
        const c = await login(port, u);
        sessions.push(c);
        await c.ok('SELECT INBOX');
      });
      let total = 0;
      const t = performance.now();
      await pool(sessions, o.concurrency, async (c) => {
        total += count(await c.ok(`FETCH 1:* ${items}`));
      });
      return [total, seconds(t)];
    } finally {
      await Promise.all(sessions.map(logout));
    }
  };
  const [envelopes, envelopeSeconds] = await fetchAll('(FLAGS ENVELOPE)', (r) => r.responses);
  const envelopeMsgsPerSecond = envelopes / envelopeSeconds;
  const [bodyBytes, bodySeconds] = await fetchAll('(BODY.PEEK[])', (r) => r.literalBytes);
  const bodyMBPerSecond = bodyBytes / 1024 / 1024 / bodySeconds;

  const s = await login(port, 1);
  const searchTimes: number[] = [];
  let searchHits = 0;
  try {
    await s.ok(`EXAMINE ${searchFolder}`);
    for (let k = 0; k < 6; k++) {
      t0 = performance.now();
      const r = await s.ok(`SEARCH TEXT ${needle}`, { collect: true });
      searchTimes.push(performance.now() - t0);
      searchHits = (r.lines.find((l) => l.startsWith('* SEARCH')) ?? '* SEARCH').split(' ').length - 2;
    }
  } finally {
    await logout(s);
  }
  const warm = searchTimes.slice(1).sort((a, b) => a - b);

  const perSession = Math.ceil(o.stores / o.concurrency);
  t0 = performance.now();
  await pool(users.slice(0, o.concurrency), o.concurrency, async (u) => {
    const c = await login(port, u);
    const r = rng(u);
    try {
      await c.ok('SELECT INBOX');
      for (let k = 0; k < perSession; k++) await c.ok(`STORE ${1 + Math.floor(r() * o.messages)} ${k % 2 ? '-' : '+'}FLAGS (\\Flagged)`);
    } finally {
      await logout(c);
    }
  });
  const storeOpsPerSecond = (perSession * Math.min(o.concurrency, o.users)) / seconds(t0);
  return { loginsPerSecond, envelopeMsgsPerSecond, bodyMBPerSecond, searchMsFirst: searchTimes[0]!, searchMsMedian: warm[Math.floor(warm.length / 2)]!, searchHits, storeOpsPerSecond };
}

// ---- Report ----

function log(text: string): void {
  process.stderr.write(`${text}\n`);
}

function report(o: Options, a: Figures, b: Figures | undefined): void {
  const f = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
  const rows: [string, string, number, number | undefined, boolean][] = [
    ['logins', '/s', a.loginsPerSecond, b?.loginsPerSecond, true],
    ['FETCH (FLAGS ENVELOPE)', 'msg/s', a.envelopeMsgsPerSecond, b?.envelopeMsgsPerSecond, true],
    ['FETCH BODY[]', 'MB/s', a.bodyMBPerSecond, b?.bodyMBPerSecond, true],
    [`SEARCH TEXT, ${o.searchMessages} msgs, first`, 'ms', a.searchMsFirst, b?.searchMsFirst, false],
    [`SEARCH TEXT, ${o.searchMessages} msgs, median of 5`, 'ms', a.searchMsMedian, b?.searchMsMedian, false],
    ['STORE', 'ops/s', a.storeOpsPerSecond, b?.storeOpsPerSecond, true],
  ];
  console.log(`IMAP benchmark: ${o.users} users x ${o.messages} messages (bodies 1-64 KB mixed), SEARCH over ${o.searchMessages}, ${o.concurrency} sessions at once`);
  console.log(`${'metric'.padEnd(38)}${'stormo'.padStart(16)}${b ? 'dovecot'.padStart(16) + '   speed ratio stormo/dovecot' : ''}`);
  for (const [name, unit, x, y, higherIsBetter] of rows) {
    const ratio = y === undefined ? '' : `   ${(higherIsBetter ? x / y : y / x).toFixed(2)}x`;
    console.log(`${name.padEnd(38)}${`${f(x)} ${unit}`.padStart(16)}${y === undefined ? '' : `${f(y)} ${unit}`.padStart(16)}${ratio}`);
  }
  console.log(`SEARCH TEXT hits: stormo ${a.searchHits}${b ? `, dovecot ${b.searchHits}` : ''}`);
  if (b) console.log('Note: Dovecot here checks {PLAIN} passwords, stormo argon2id (19 MiB x 2): the login ratio is mostly the hash.');
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  let restoreBaseline: (() => void) | undefined;
  let withBaseline = false;
  if (o.baseline) {
    if (!existsSync('/etc/dovecot-bench/dovecot.conf')) {
      log(`Dovecot baseline not installed: measuring stormo alone. To compare, run: bash ${o.baselineDir}/setup.sh (then this bench starts it).`);
    } else {
      const b = startBaseline(o.baselineDir);
      if (b.started.length > 0) restoreBaseline = b.restore;
      withBaseline = true;
    }
  }
  const stormo = await startStormo(o);
  const stop = async (): Promise<void> => {
    await stormo.close();
    restoreBaseline?.();
    restoreBaseline = undefined;
  };
  process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
  try {
    let dovecot: Figures | undefined;
    if (withBaseline) {
      await fillDovecot(o);
      dovecot = await measure(dovecotPort, o);
    }
    const ours = await measure(stormo.port, o);
    report(o, ours, dovecot);
  } finally {
    await stop();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(e instanceof UsageError ? `${e.message}\n` : `${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(e instanceof UsageError ? 2 : 1);
});
