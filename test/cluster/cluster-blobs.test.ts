// Replicated bodies in a real three-process cluster: a message delivered to n1 is on every node's disk
// (N=3) and readable byte for byte over POP3 and IMAP on n2; a node killed with SIGKILL misses deliveries
// (still 250 on a quorum) and gets its copies back from the repair loop when it returns.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import { createLocalCluster, portsPerNode } from '../../src/cli/cluster-local.ts';
import { RawSmtpClient, formatReply } from '../node/fixtures/smtp-client.ts';
import { freePortRange, waitFor } from '../helpers/ports.ts';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'stormo.js');
const run = promisify(execFile);
const ids = ['n1', 'n2', 'n3'] as const;
type Id = (typeof ids)[number];


const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);
const blobPath = (nodeDir: string, id: string): string => join(nodeDir, 'blobs', id.slice(0, 2), id.slice(2, 4), id);
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

interface Node {
  proc: ChildProcess;
  exited: Promise<void>;
}

test('bodies are replicated to all three nodes, read on another node, and repaired after a SIGKILL', { timeout: 240_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-blobs-'));
  const base = await freePortRange(portsPerNode * 3);
  const files = await createLocalCluster({ nodes: 3, dataDir: dir, basePort: base, logLevel: 'warn', bin });
  const nodeDir = (id: Id): string => join(dir, id);
  const nodes = new Map<Id, Node>();
  let output = '';
  const start = (id: Id): void => {
    const proc = spawn(process.execPath, [bin, 'up', '--config', files[ids.indexOf(id)]!], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout!.on('data', (d: Buffer) => (output += `[${id}] ${d.toString()}`));
    proc.stderr!.on('data', (d: Buffer) => (output += `[${id}] ${d.toString()}`));
    nodes.set(id, { proc, exited: new Promise((r) => proc.once('exit', () => r())) });
  };
  const endpoints = async (id: Id): Promise<Record<string, string>> => JSON.parse(await readFile(join(nodeDir(id), 'endpoints.json'), 'utf8')) as Record<string, string>;
  const port = async (id: Id, key: string): Promise<number> => Number((await endpoints(id))[key]!.split(':')[1]);
  const admin = async (id: Id, method: string, path: string, body?: unknown): Promise<Response> => {
    const token = (await readFile(join(nodeDir(id), 'admin.token'), 'utf8')).trim();
    return fetch(`${(await endpoints(id)).admin}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  };
  type Gossiped = { nodeId: string; alive: boolean; lastSeenMs: number | null; load: { loopLagMs: number; connections: Record<string, number> } | null };
  type Status = { missingBlobCopies: number | null; nodes: { id: string; ready?: boolean }[]; gossip: { members: Gossiped[] } | null };
  const status = async (id: Id): Promise<Status> => (await (await admin(id, 'GET', '/v1/cluster/status')).json()) as Status;
  const gossipOf = async (id: Id, peer: Id): Promise<Gossiped | undefined> => (await status(id)).gossip?.members.find((m) => m.nodeId === peer);
  const deliver = async (id: Id, subject: string): Promise<void> => {
    const { client } = await RawSmtpClient.connect(await port(id, 'smtp'), { timeoutMs: 20_000 });
    assert.equal((await client.command('EHLO test.example')).code, 250);
    const r = await client.send('bob@remote.example', ['alice@example.com'], Buffer.from(`Subject: ${subject}\r\n\r\nbody of ${subject}\r\n`));
    await client.quit();
    assert.equal(r.reply.code, 250, `${subject}: ${r.stage} ${formatReply(r.reply)}`);
  };
  const pop3Retr = async (id: Id, n: number): Promise<Buffer> => {
    const r = await run('curl', ['-sSk', '--user', 'alice@example.com:wonderland', `pop3s://127.0.0.1:${await port(id, 'pop3s')}/${n}`], { encoding: 'buffer', timeout: 20_000 });
    return Buffer.from(r.stdout);
  };
  try {
    for (const id of ids) start(id);
    await waitFor('three ready members', 90_000, async () => {
      for (const id of ids) if (nodes.get(id)!.proc.exitCode !== null) throw new Error(`${id} exited`);
      const st = await status('n1');
      return st.nodes.filter((n) => n.ready === true).length === 3 ? true : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n${output.slice(-4000)}`);
    });
    // Gossip: every node hears the two others, with their load, in its status.
    await waitFor('gossip between all three', 20_000, async () => {
      for (const id of ids) for (const peer of ids) {
        const seen = peer === id ? 0 : (await gossipOf(id, peer))?.lastSeenMs;
        if (seen === null || seen === undefined || seen > 3_000) return undefined;
      }
      return true;
    });
    assert.equal(typeof (await gossipOf('n1', 'n2'))?.load?.loopLagMs, 'number');
    assert.deepEqual(Object.keys((await gossipOf('n1', 'n2'))?.load?.connections ?? {}).sort(), ['imap', 'pop3']);
    assert.equal((await admin('n1', 'POST', '/v1/domains', { name: 'example.com' })).status, 201);
    assert.equal((await admin('n1', 'POST', '/v1/users', { address: 'alice@example.com', password: 'wonderland' })).status, 201);

    // One delivery to n1: three fsynced copies, the same bytes over POP3 and IMAP on n2.
    await deliver('n1', 'first');
    const first = await waitFor('the message on n2', 10_000, async () => {
      const b = await pop3Retr('n2', 1);
      return b.length > 0 ? b : undefined;
    });
    assert.match(first.toString(), /body of first/);
    const firstId = sha256(first);
    for (const id of ids) assert.ok(await exists(blobPath(nodeDir(id), firstId)), `${id} holds the first body`);
    const imap = new ImapFlow({ host: '127.0.0.1', port: await port('n2', 'imap'), secure: false, tls: { rejectUnauthorized: false }, auth: { user: 'alice@example.com', pass: 'wonderland' }, logger: false });
    await imap.connect();
    try {
      await imap.mailboxOpen('INBOX');
      const m = await imap.fetchOne('1', { source: true });
      assert.ok(m && m.source, 'IMAP FETCH returned the body');
      assert.equal(sha256(m.source), firstId, 'IMAP on n2 returns the same bytes');
    } finally {
      await imap.logout();
    }

    // n3 dies without warning: deliveries still get 250 (a quorum of 2 copies), n3 lacks them.
    nodes.get('n3')!.proc.kill('SIGKILL');
    await nodes.get('n3')!.exited;
    const missed: string[] = [];
    for (const s of ['second', 'third']) {
      await deliver('n1', s);
    }
    for (const n of [2, 3]) missed.push(sha256(await pop3Retr('n2', n)));
    assert.equal(new Set(missed).size, 2);
    await waitFor('gossip on n1 to report n3 dead', 20_000, async () => ((await gossipOf('n1', 'n3'))?.alive === false ? true : undefined));
    for (const id of missed) {
      assert.ok(await exists(blobPath(nodeDir('n1'), id)), 'n1 holds it');
      assert.ok(await exists(blobPath(nodeDir('n2'), id)), 'n2 holds it');
      assert.ok(!(await exists(blobPath(nodeDir('n3'), id))), 'n3 was down');
    }

    // n3 returns: its repair loop (after catching up) pulls what it missed, and status reports nothing missing.
    start('n3');
    await waitFor('n3 to get its copies back', 60_000, async () => {
      for (const id of missed) if (!(await exists(blobPath(nodeDir('n3'), id)))) return undefined;
      return true;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n${output.slice(-4000)}`);
    });
    await waitFor('gossip on n1 to hear n3 again', 30_000, async () => ((await gossipOf('n1', 'n3'))?.alive === true ? true : undefined));
    const repaired = await readFile(blobPath(nodeDir('n3'), missed[1]!));
    assert.equal(sha256(repaired), missed[1], 'the repaired copy is verified');
    await waitFor('status: no missing blob copies on any node', 30_000, async () => {
      for (const id of ids) if ((await status(id)).missingBlobCopies !== 0) return undefined;
      return true;
    });
    assert.deepEqual(await pop3Retr('n3', 3), await readFile(blobPath(nodeDir('n1'), missed[1]!)), 'POP3 on n3 returns the repaired body');
  } finally {
    for (const n of nodes.values()) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
    await Promise.all([...nodes.values()].map((n) => n.exited));
    await rm(dir, { recursive: true, force: true });
  }
});
