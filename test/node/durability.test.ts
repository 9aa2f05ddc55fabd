// SIGKILL durability over SMTP (DESIGN principle 3, G1, G3): a node taking a stream of messages is
// killed at a random moment, restarted on the same data, again and again; every message that got
// 250 is there exactly once, byte for byte, and UIDs ascend per folder in the order mail was acked.
//
// Replay a failure with STORMO_TEST_SEED=<the printed seed>.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { BlobStore } from '../../src/blob/index.ts';
import { Store } from '../../src/store/index.ts';
import {
  type ChildNode,
  adminClient,
  portOf,
  readAdminToken,
  seededRandom,
  startChildNode,
  testSeed,
  writeNodeConfig,
} from './fixtures/child-node.ts';
import { RawSmtpClient, SmtpConnectionError, formatReply } from './fixtures/smtp-client.ts';

const rounds = 4;
const sendersPerRound = 8;
/** Bounds each sender even if the kill never came. */
const messagesPerSenderMax = 2_000;
const killAfterMsMin = 300;
const killAfterMsMax = 1_500;
const domain = 'durable.example';
const users = ['ann', 'ben', 'cat', 'dan'].map((u) => `${u}@${domain}`);

interface Sent {
  readonly token: string;
  readonly round: number;
  readonly from: string;
  readonly to: string;
  readonly bytes: Buffer;
  /** performance.now() when MAIL FROM was sent. */
  readonly startAt: number;
  outcome: 'acked' | 'refused' | 'unknown';
  /** performance.now() when the 250 arrived. */
  ackAt?: number;
  reply?: string;
}

/** A message with its token in Message-ID, a header and the body; some lines start with a dot. */
function buildMessage(token: string, from: string, to: string, rnd: () => number): Buffer {
  const lines = [`From: <${from}>`, `To: <${to}>`, `Subject: durability ${token}`, `Message-ID: <${token}@durability.test>`, `X-Token: ${token}`, ''];
  const bodyBytes = 100 + Math.floor(rnd() * 16_000);
  let size = 0;
  while (size < bodyBytes) {
    const len = 1 + Math.floor(rnd() * 76);
    let line = '';
    for (let i = 0; i < len; i++) line += String.fromCharCode(33 + Math.floor(rnd() * 94));
    if (rnd() < 0.05) line = `.${line}`; // exercises dot-stuffing both ways
    lines.push(line);
    size += line.length + 2;
  }
  lines.push(`token ${token} ends here`, '');
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** One client: a connection, then messages one after another until the connection dies. */
async function sender(port: number, round: number, idx: number, seed: number, log: Sent[]): Promise<void> {
  const rnd = seededRandom((seed ^ Math.imul(round + 1, 0x9e3779b1) ^ Math.imul(idx + 1, 0x85ebca6b)) >>> 0);
  let client: RawSmtpClient;
  try {
    const c = await RawSmtpClient.connect(port, { timeoutMs: 10_000 });
    client = c.client;
    if (c.greeting.code !== 220) throw new Error(`greeting ${formatReply(c.greeting)}`);
    const ehlo = await client.command(`EHLO sender${idx}.remote.example`);
    if (ehlo.code !== 250) throw new Error(`EHLO ${formatReply(ehlo)}`);
  } catch (e) {
    if (e instanceof SmtpConnectionError || (e as { code?: string }).code === 'ECONNREFUSED') return; // killed already
    throw e;
  }
  try {
    for (let n = 0; n < messagesPerSenderMax; n++) {
      const from = `s${idx}@remote.example`;
      const to = users[Math.floor(rnd() * users.length)]!;
      const token = `${seed.toString(16)}.${round}.${idx}.${n}`;
      const s: Sent = { token, round, from, to, bytes: buildMessage(token, from, to, rnd), startAt: performance.now(), outcome: 'unknown' };
      log.push(s);
      const { stage, reply } = await client.send(from, [to], s.bytes);
      if (stage === 'data' && reply.code === 250) {
        s.ackAt = performance.now();
        s.outcome = 'acked';
      } else {
        s.outcome = 'refused';
        s.reply = `${stage}: ${formatReply(reply)}`;
      }
    }
  } catch (e) {
    if (!(e instanceof SmtpConnectionError)) throw e;
  } finally {
    client.destroy();
  }
}

/** What the store holds for one token. */
interface Found {
  readonly user: string;
  readonly folder: string;
  readonly uid: number;
  readonly body: Buffer;
}

async function readBack(dataDir: string): Promise<{ found: Map<string, Found[]>; problems: string[] }> {
  const store = await Store.open({ dir: dataDir, nodeId: 'n1' });
  const found = new Map<string, Found[]>();
  const problems: string[] = [];
  try {
    await store.barrier();
    const blobs = await BlobStore.open(join(dataDir, 'blobs'));
    const q = store.queries;
    for (const user of users) {
      const account = await q.accountByAddress(user);
      assert.ok(account, `${user} exists`);
      let count = 0;
      let bytes = 0;
      for (const folder of await q.folders(account.id, 100)) {
        const msgs = await q.messages(account.id, folder.id, 1_000_000);
        const uids = msgs.map((m) => m.uid as number);
        for (let i = 1; i < uids.length; i++) if (!(uids[i]! > uids[i - 1]!)) problems.push(`${user}/${folder.name}: UIDs not ascending at ${uids[i - 1]}, ${uids[i]}`);
        if (uids.length > 0 && !(uids[uids.length - 1]! < folder.uidNext)) problems.push(`${user}/${folder.name}: UID ${uids[uids.length - 1]} >= UIDNEXT ${folder.uidNext}`);
        if (folder.exists !== msgs.length) problems.push(`${user}/${folder.name}: EXISTS ${folder.exists}, holds ${msgs.length}`);
        for (const m of msgs) {
          const body = Buffer.from(await blobs.get(m.blobId)); // verifies the SHA-256
          if (body.length !== m.size) problems.push(`${user} UID ${m.uid}: size ${m.size}, blob ${body.length} bytes`);
          const token = /\r\nX-Token: ([^\r]+)\r\n/.exec(body.toString('latin1'))?.[1] ?? `(no token, UID ${m.uid})`;
          found.set(token, [...(found.get(token) ?? []), { user, folder: folder.name, uid: m.uid, body }]);
          count++;
          bytes += m.size;
        }
      }
      if (account.messages !== count) problems.push(`${user}: account counts ${account.messages} messages, folders hold ${count}`);
      if (account.usedBytes !== bytes) problems.push(`${user}: account counts ${account.usedBytes} bytes, folders hold ${bytes}`);
    }
  } finally {
    await store.close();
  }
  return { found, problems };
}

/** Each acked token once, in its recipient's INBOX, its sent bytes a suffix of what is stored. */
function checkMessages(sent: readonly Sent[], found: Map<string, Found[]>, problems: string[]): void {
  const byToken = new Map(sent.map((s) => [s.token, s]));
  for (const token of found.keys()) if (!byToken.has(token)) problems.push(`stored message ${token} was never sent`);
  for (const s of sent) {
    const copies = found.get(s.token) ?? [];
    if (s.outcome === 'acked' && copies.length !== 1) problems.push(`${s.token} got 250 and is stored ${copies.length} times`);
    if (copies.length > 1) problems.push(`${s.token} (${s.outcome}) is stored ${copies.length} times`);
    for (const c of copies) {
      if (c.user !== s.to || c.folder !== 'INBOX') problems.push(`${s.token} for ${s.to} is in ${c.user}/${c.folder}`);
      if (!c.body.subarray(c.body.length - s.bytes.length).equals(s.bytes)) problems.push(`${s.token}: stored bytes do not end with the sent bytes`);
      if (!c.body.toString('latin1').startsWith(`Return-Path: <${s.from}>\r\nReceived: from `)) problems.push(`${s.token}: no Return-Path/Received trace`);
      if (c.body.length - s.bytes.length > 2048) problems.push(`${s.token}: ${c.body.length - s.bytes.length} bytes of trace headers`);
    }
  }
}

/**
 * G3 in real time: when A got its 250 before B's MAIL FROM left the client, A was committed before
 * B was proposed, so in the same folder uid(A) < uid(B).
 */
function checkUidOrder(sent: readonly Sent[], found: Map<string, Found[]>, problems: string[]): void {
  for (const user of users) {
    const mine = sent
      .filter((s) => s.to === user && found.get(s.token)?.length === 1)
      .map((s) => ({ s, uid: found.get(s.token)![0]!.uid }))
      .sort((a, b) => a.uid - b.uid);
    for (let i = 0; i < mine.length; i++) {
      for (let j = i + 1; j < mine.length; j++) {
        const later = mine[j]!; // larger UID
        if (later.s.ackAt !== undefined && later.s.ackAt < mine[i]!.s.startAt) {
          problems.push(`${user}: ${later.s.token} (UID ${later.uid}) was acked before ${mine[i]!.s.token} (UID ${mine[i]!.uid}) was sent`);
        }
      }
    }
  }
}

test('SIGKILL at random moments under 8 SMTP streams: every 250 is stored once, byte for byte', { timeout: 120_000 }, async (t) => {
  const seed = testSeed();
  const rnd = seededRandom(seed);
  t.diagnostic(`seed ${seed} (replay: STORMO_TEST_SEED=${seed})`);
  console.log(`durability: seed ${seed} (replay: STORMO_TEST_SEED=${seed})`);
  const dir = await mkdtemp(join(tmpdir(), 'stormo-durability-'));
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'stormo.json');
  await writeNodeConfig(configFile, dataDir);
  const sent: Sent[] = [];
  let child: ChildNode | undefined;
  try {
    for (let round = 0; round < rounds; round++) {
      child = await startChildNode(configFile, dataDir);
      if (round === 0) {
        const admin = adminClient(child.endpoints.admin, await readAdminToken(dataDir));
        assert.equal((await admin('POST', '/v1/domains', { name: domain })).status, 201);
        for (const u of users) assert.equal((await admin('POST', '/v1/users', { address: u, password: 'secret-pw' })).status, 201);
      }
      const port = portOf(child.endpoints.smtp);
      const killAfterMs = killAfterMsMin + Math.floor(rnd() * (killAfterMsMax - killAfterMsMin + 1));
      const before = sent.length;
      const streams = Array.from({ length: sendersPerRound }, (_, i) => sender(port, round, i, seed, sent));
      await sleep(killAfterMs);
      const exit = await child.kill('SIGKILL');
      assert.equal(exit.signal, 'SIGKILL', `the node was still running when killed:\n${child.output()}`);
      await Promise.all(streams);
      const mine = sent.slice(before);
      const acked = mine.filter((s) => s.outcome === 'acked').length;
      const line = `round ${round}: killed after ${killAfterMs} ms; ${mine.length} messages started, ${acked} acked, ${mine.length - acked} in flight or refused`;
      t.diagnostic(line);
      console.log(`durability: ${line}`);
      const refused = mine.filter((s) => s.outcome === 'refused');
      assert.equal(refused.length, 0, `no refusals expected before the kill: ${refused.slice(0, 10).map((s) => `${s.token}: ${s.reply}`).join('; ')}\n${child.output()}`);
    }

    // Recovery through the program itself, then a clean stop, then read the data in this process.
    child = await startChildNode(configFile, dataDir);
    const admin = adminClient(child.endpoints.admin, await readAdminToken(dataDir));
    const listed = (await admin('GET', `/v1/users?domain=${domain}`)).json as { users: { messages: number }[] };
    const stop = await child.kill('SIGTERM');
    assert.deepEqual(stop, { code: 0, signal: null }, `stormo up stops cleanly on SIGTERM:\n${child.output()}`);
    child = undefined;

    const { found, problems } = await readBack(dataDir);
    checkMessages(sent, found, problems);
    checkUidOrder(sent, found, problems);
    const acked = sent.filter((s) => s.outcome === 'acked');
    const unknownStored = sent.filter((s) => s.outcome === 'unknown' && found.has(s.token)).length;
    const summary = `${rounds} kills, ${sent.length} messages started, ${acked.length} acked, ${found.size} stored (${unknownStored} of them never acked)`;
    t.diagnostic(summary);
    console.log(`durability: ${summary}`);
    assert.equal(problems.length, 0, `${problems.length} problems, the first ones:\n${problems.slice(0, 30).join('\n')}`);
    assert.equal(listed.users.reduce((n, u) => n + u.messages, 0), found.size, 'the restarted node counts what is stored');
    assert.ok(acked.length >= rounds * sendersPerRound, `too few messages acked (${acked.length}) for the test to mean anything`);
  } finally {
    if (child) await child.kill('SIGKILL').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});
