// 200 sessions in one mailbox fetching, storing flags and expunging while messages are delivered. Each
// session tracks its own seq -> UID map from untagged EXISTS, EXPUNGE and FETCH, and at the end (after a
// final NOOP) must agree with a fresh SELECT: same UIDs in the same order, same flags.

import assert from 'node:assert/strict';
import { argon2Sync } from 'node:crypto';
import { after, before, test } from 'node:test';
import { expectOk, RawImap, type Reply } from './client.ts';
import { type AccountId, StoreError } from '../../src/store/index.ts';
import { type ImapFixture, startImap } from './fixture.ts';

const sessionsTotal = Number(process.env.IMAP_CONCURRENCY_SESSIONS ?? 200);
const opsPerSession = Number(process.env.IMAP_CONCURRENCY_OPS ?? 8);
const seed = Number(process.env.IMAP_CONCURRENCY_SEED ?? Math.floor(Math.random() * 2 ** 31));
const plainIr = Buffer.from('\0load@example.com\0secret').toString('base64');

let f: ImapFixture;
let accountId: AccountId;

/**
 * An argon2id hash with tiny parameters (the PHC string carries them), so 200 logins test the server and
 * not the password hash: at the production 19 MiB x 2 they alone take ~40 s on a loaded 2-core machine.
 */
function cheapHash(password: string): string {
  const salt = Buffer.alloc(16, 7);
  const tag = argon2Sync('argon2id', { message: password, nonce: salt, memory: 64, passes: 1, parallelism: 1, tagLength: 32 });
  const b64 = (x: Buffer): string => x.toString('base64').replace(/=+$/, '');
  return `$argon2id$v=19$m=64,t=1,p=1$${b64(salt)}$${b64(tag)}`;
}

before(async () => {
  f = await startImap({ config: { connectionsPerUserMax: sessionsTotal + 10, connectionsPerIpMax: sessionsTotal + 10 } });
  ({ accountId } = await f.store.execute<{ accountId: AccountId }>({ type: 'createAccount', address: 'load@example.com', passwordHash: cheapHash('secret'), quotaBytes: 0 }));
  for (let i = 0; i < 60; i++) await f.deliver(message(i), { accountId });
});
async function deliverRetrying(m: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await f.deliver(m, { accountId });
      return;
    } catch (e) {
      if (!(e instanceof StoreError && e.code === 'UNAVAILABLE') || attempt >= 3) throw e;
    }
  }
}

after(async () => {
  await f?.close();
});

const message = (i: number): string => `From: bob@example.org\r\nTo: alice@example.com\r\nSubject: m${i}\r\n\r\nbody ${i}\r\n`;

function rng(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Flags as compared: sorted, without \Recent (which is per session by definition, RFC 3501 §2.3.2). */
const normFlags = (s: string): string => s.split(' ').filter((x) => x !== '' && x !== '\\Recent').sort().join(' ');

/** One session's view of the mailbox, built only from what the server told it. */
class View {
  /** seq - 1 -> UID; 0 while an EXISTS announced a message whose UID this session has not been told yet. */
  readonly uids: number[] = [];
  readonly flags = new Map<number, string>();
  private readonly expunged = new Set<number>();
  /** UIDs a FETCH 1:* left out (expunged by another session, not yet reported to this one). */
  readonly omitted = new Set<number>();
  readonly problems: string[] = [];
  readonly name: string;

  constructor(name: string) {
    this.name = name;
  }

  private problem(text: string): void {
    if (this.problems.length < 5) this.problems.push(`${this.name}: ${text}`);
  }

  /** Applies the untagged responses of one command, in order. Returns the FETCH responses' seqs. */
  apply(r: Reply): number[] {
    const fetched: number[] = [];
    for (const line of r.untagged) {
      let m = /^\* (\d+) EXISTS$/.exec(line);
      if (m) {
        const n = Number(m[1]);
        if (n < this.uids.length) this.problem(`EXISTS ${n} below the ${this.uids.length} messages in view without EXPUNGE`);
        while (this.uids.length < n) this.uids.push(0);
        continue;
      }
      m = /^\* (\d+) EXPUNGE$/.exec(line);
      if (m) {
        const n = Number(m[1]);
        if (n < 1 || n > this.uids.length) this.problem(`EXPUNGE ${n} outside 1..${this.uids.length}`);
        else {
          const [uid] = this.uids.splice(n - 1, 1);
          if (uid) this.expunged.add(uid);
        }
        continue;
      }
      m = /^\* (\d+) FETCH \((.*)\)$/.exec(line);
      if (m) {
        const n = Number(m[1]);
        fetched.push(n);
        if (n < 1 || n > this.uids.length) {
          this.problem(`FETCH for seq ${n} outside 1..${this.uids.length}: ${line}`);
          continue;
        }
        const uidM = /(?:^|[ (])UID (\d+)/.exec(m[2]!);
        let uid = this.uids[n - 1]!;
        if (uidM) {
          const u = Number(uidM[1]);
          if (uid !== 0 && uid !== u) this.problem(`seq ${n} was UID ${uid}, now FETCH says UID ${u}`);
          if (uid === 0) {
            if (this.expunged.has(u)) this.problem(`UID ${u} seen again after its EXPUNGE`);
            if (this.uids.includes(u)) this.problem(`UID ${u} twice in view`);
            const before = this.uids.slice(0, n - 1).filter((x) => x !== 0).at(-1) ?? 0;
            const afterU = this.uids.slice(n).find((x) => x !== 0) ?? Infinity;
            if (!(u > before && u < afterU)) this.problem(`UID ${u} at seq ${n} out of order (${before} < ? < ${afterU})`);
            this.uids[n - 1] = u;
          }
          uid = u;
        }
        const flagsM = /FLAGS \(([^)]*)\)/.exec(m[2]!);
        if (flagsM && uid !== 0) this.flags.set(uid, normFlags(flagsM[1]!));
      }
    }
    return fetched;
  }
}

interface Session {
  readonly c: RawImap;
  readonly v: View;
}

async function run(s: Session, cmd: string, allowNo = false): Promise<Reply> {
  const r = await s.c.command(cmd, 20_000);
  s.v.apply(r);
  if (!/^\S+ OK/.test(r.tagged) && !(allowNo && /^\S+ NO/.test(r.tagged))) s.v.problems.push(`${s.v.name}: ${cmd} -> ${r.tagged}`);
  return r;
}

/**
 * FETCH 1:* in a session's view. A message another session expunged may be left out (RFC 2180 §4.1.2);
 * the UIDs left out are remembered and must be gone from the mailbox at the end.
 */
async function fetchAll(s: Session): Promise<void> {
  const r = await s.c.command('FETCH 1:* (UID FLAGS)', 20_000);
  const fetched = new Set(s.v.apply(r));
  if (!/^\S+ (OK|NO)/.test(r.tagged)) s.v.problems.push(`${s.v.name}: FETCH 1:* -> ${r.tagged}`);
  s.v.uids.forEach((uid, i) => {
    if (!fetched.has(i + 1)) {
      // A message whose UID this session never learned can be checked only by the final count.
      if (uid !== 0) s.v.omitted.add(uid);
    }
  });
}

async function operate(s: Session, r: () => number): Promise<void> {
  const n = s.v.uids.length;
  const seq = 1 + Math.floor(r() * Math.max(1, n));
  const x = r();
  if (n === 0 || x < 0.25) {
    await fetchAll(s);
  } else if (x < 0.45) await run(s, `STORE ${seq} ${r() < 0.5 ? '+' : '-'}FLAGS (\\Flagged)`, true);
  else if (x < 0.6) {
    const uid = s.v.uids[seq - 1];
    if (uid) await run(s, `UID STORE ${uid} +FLAGS ($seen${Math.floor(r() * 3)})`, true);
    else await run(s, `FETCH ${seq} (UID FLAGS)`);
  } else if (x < 0.64) {
    await run(s, `STORE ${seq} +FLAGS.SILENT (\\Deleted)`, true);
    const uid = s.v.uids[seq - 1];
    await run(s, uid && r() < 0.5 ? `UID EXPUNGE ${uid}` : 'EXPUNGE');
  } else if (x < 0.8) await run(s, 'UID SEARCH ALL');
  else await run(s, 'NOOP');
}

test(`concurrency: ${sessionsTotal} sessions fetch, store and expunge in one mailbox during deliveries (seed ${seed})`, { timeout: 120_000 }, async (t) => {
  t.diagnostic(`seed ${seed} (replay with IMAP_CONCURRENCY_SEED=${seed})`);
  const r = rng(seed);
  const started = Date.now();
  const sessions: Session[] = [];
  for (let i = 0; i < sessionsTotal; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(20, sessionsTotal - i) }, async (_, k) => {
        const c = await RawImap.connect(f.port);
        expectOk(await c.command(`AUTHENTICATE PLAIN ${plainIr}`, 30_000));
        const s: Session = { c, v: new View(`s${i + k}`) };
        await run(s, 'SELECT INBOX');
        return s;
      }),
    );
    sessions.push(...batch);
  }
  const loggedIn = Date.now();
  let delivering = true;
  let delivered = 0;
  // Four delivery streams, as from several SMTP sessions at once.
  const deliveries = Promise.all(
    [0, 1, 2, 3].map(async () => {
      // A store too busy to commit within its deadline says UNAVAILABLE (SMTP's 451): retry as a client
      // would. A retried message may be stored twice; the checks below compare views, not counts.
      while (delivering) await deliverRetrying(message(1000 + delivered++));
    }),
  );
  await Promise.all(
    sessions.map(async (s, i) => {
      const rs = rng(seed + i + 1);
      for (let k = 0; k < opsPerSession; k++) await operate(s, rs);
    }),
  );
  delivering = false;
  await deliveries;
  const worked = Date.now();

  const fresh = await RawImap.connect(f.port);
  expectOk(await fresh.command(`AUTHENTICATE PLAIN ${plainIr}`));
  const finalView = new View('fresh');
  finalView.apply(expectOk(await fresh.command('SELECT INBOX')));
  finalView.apply(expectOk(await fresh.command('FETCH 1:* (UID FLAGS)')));
  assert.ok(!finalView.uids.includes(0), 'the fresh FETCH covered every message');
  fresh.close();

  const problems: string[] = [...finalView.problems];
  await Promise.all(
    sessions.map(async (s) => {
      await run(s, 'NOOP');
      const v = s.v;
      if (v.uids.length !== finalView.uids.length) problems.push(`${v.name}: ${v.uids.length} messages in view after NOOP, ${finalView.uids.length} in the mailbox`);
      v.uids.forEach((uid, i) => {
        if (uid !== 0 && uid !== finalView.uids[i]) problems.push(`${v.name}: seq ${i + 1} is UID ${uid} in view, ${finalView.uids[i]} in the mailbox`);
        if (uid !== 0 && v.flags.has(uid) && v.flags.get(uid) !== finalView.flags.get(uid)) {
          problems.push(`${v.name}: UID ${uid} has flags (${v.flags.get(uid)}) in view, (${finalView.flags.get(uid)}) in the mailbox`);
        }
      });
      await fetchAll(s);
      if (v.uids.join() !== finalView.uids.join()) problems.push(`${v.name}: UID list differs after FETCH 1:*`);
      for (const uid of v.omitted) if (finalView.uids.includes(uid)) problems.push(`${v.name}: a FETCH 1:* left out UID ${uid}, which still exists`);
      problems.push(...v.problems);
      s.c.close();
    }),
  );
  t.diagnostic(`${sessionsTotal} sessions: logins ${loggedIn - started} ms, ${sessionsTotal * opsPerSession} operations and ${delivered} deliveries ${worked - loggedIn} ms; final mailbox ${finalView.uids.length} messages`);
  assert.deepEqual(problems.slice(0, 20), [], `seed ${seed}`);
  assert.ok(delivered > 0);
});
