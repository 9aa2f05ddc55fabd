// The cluster's CLI as an operator runs it: init, up --nodes 3 (one process per node), status, token, join,
// remove, and Ctrl-C stopping everything. Real processes on loopback; ports from a free range found at run time.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ConfigError, parseConfig } from '../../src/cli/config.ts';
import { portsPerNode } from '../../src/cli/cluster-local.ts';
import { nodeIdOfCert } from '../../src/cluster/ca.ts';
import { freePortRange, waitFor } from '../helpers/ports.ts';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'stormo.js');
const run = promisify(execFile);

async function stormo(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [bin, ...args], { timeout: 30_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}


function exited(p: ChildProcess): Promise<number | null> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.once('exit', (c) => r(c)));
}

test('init makes a CA and a node identity with private keys 0600, and refuses to run twice', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-init-'));
  try {
    const r = await stormo('init', '--data', dir, '--node-id', 'alpha', '--cluster-listen', '127.0.0.1:0', '--join-port', '0');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /CA fingerprint {2}sha256:[0-9a-f]{64}/);
    for (const f of ['node-key.pem', 'ca-key.pem']) assert.equal((await stat(join(dir, 'cluster', f))).mode & 0o777, 0o600, f);
    assert.equal(nodeIdOfCert(await readFile(join(dir, 'cluster', 'node.pem'), 'utf8')), 'alpha');
    const cfg = parseConfig(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')));
    assert.equal(cfg.nodeId, 'alpha');
    assert.deepEqual(cfg.cluster?.voters, ['alpha']);
    const again = await stormo('init', '--data', dir);
    assert.notEqual(again.code, 0);
    assert.match(again.err, /already holds a node/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the cluster section is validated with named errors', () => {
  assert.throws(() => parseConfig({ nodeId: 'n1', cluster: { peers: { n1: '127.0.0.1:1' } } }), (e: ConfigError) => /cluster\.peers: must not list this node/.test(e.message));
  assert.throws(() => parseConfig({ nodeId: 'n1', cluster: { peers: { n2: 'nope' } } }), (e: ConfigError) => /cluster\.peers\.n2: host:port/.test(e.message));
  assert.throws(() => parseConfig({ nodeId: 'n1', cluster: { voters: ['n2'] } }), (e: ConfigError) => /cluster\.voters: must include nodeId n1/.test(e.message));
  assert.throws(() => parseConfig({ cluster: { replicationFactor: 0 } }), (e: ConfigError) => /cluster\.replicationFactor/.test(e.message));
  assert.equal(parseConfig({ cluster: {} }).cluster?.replicationFactor, 3);
});

test('up --nodes 3: three processes elect a leader; a fourth joins with a token and is removed; SIGTERM stops all', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-local-'));
  const base = await freePortRange(portsPerNode * 4 + 7);
  const balancerPort = base + portsPerNode * 4;
  const withBalancer = spawnSync('haproxy', ['-v']).status === 0;
  // Its own process group: if the test fails, the whole group (the parent and its nodes) is killed.
  const parent = spawn(process.execPath, [bin, 'up', '--nodes', '3', '--data', dir, '--base-port', String(base), ...(withBalancer ? ['--balancer', '--balancer-port', String(balancerPort)] : [])], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  parent.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  parent.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let n4: ChildProcess | undefined;
  try {
    const endpoints = await waitFor('endpoints.json', 45_000, async () => {
      if (parent.exitCode !== null) throw new Error(`stormo up --nodes 3 exited early:\n${out.slice(-4000)}`);
      return JSON.parse(await readFile(join(dir, 'endpoints.json'), 'utf8')) as Record<string, { admin: string; cluster: string }>;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n--- output of stormo up --nodes 3 ---\n${out.slice(-4000)}`);
    });
    assert.deepEqual(Object.keys(endpoints), withBalancer ? ['n1', 'n2', 'n3', 'balancer'] : ['n1', 'n2', 'n3']);
    assert.equal(new Set(['n1', 'n2', 'n3'].map((id) => endpoints[id]!.admin)).size, 3, 'distinct ports per node');
    assert.match(out, /3-node cluster up/);
    const status = await waitFor('a leader and three ready voters', 20_000, async () => {
      const r = await stormo('status', '--data', join(dir, 'n2'));
      return /leader n\d/.test(r.out) && (r.out.match(/\tyes$/gm) ?? []).length === 3 ? r.out : undefined;
    });
    assert.match(status, /voters n1,n2,n3/);
    if (withBalancer) {
      // HAProxy in front (PROXY v2 from 127.0.0.2): an SMTP client through it is greeted by a node.
      const greeting = await waitFor('a greeting through HAProxy', 15_000, async () => {
        const g = await new Promise<string>((resolve) => {
          let got = '';
          const s = net.connect(balancerPort, '127.0.0.1');
          s.on('data', (d) => {
            got += d.toString();
            if (got.includes('\n')) s.destroy();
          });
          s.on('close', () => resolve(got));
          s.on('error', () => resolve(''));
          setTimeout(() => s.destroy(), 5_000);
        });
        return g.startsWith('220 ') ? g : undefined;
      });
      assert.match(greeting, /^220 .*ESMTP/);
    }

    // A token from n1 (the CA key's holder), a join, and the new node up as its own process.
    const noCa = await stormo('token', '--data', join(dir, 'n2'));
    assert.match(noCa.err, /NO_JOIN_SERVICE: n2 holds no CA key/, 'only the CA key holder issues tokens');
    const tok = await stormo('token', '--data', join(dir, 'n1'), '--ttl', '300');
    assert.equal(tok.code, 0, tok.err);
    const n4dir = join(dir, 'n4');
    const joined = await stormo('join', '--token', tok.out.trim(), '--node-id', 'n4', '--cluster-listen', `127.0.0.1:${base + 3 * portsPerNode + 6}`, '--data', n4dir);
    assert.equal(joined.code, 0, joined.err);
    const reuse = await stormo('join', '--token', tok.out.trim(), '--node-id', 'n5', '--data', join(dir, 'n5'));
    assert.match(reuse.err, /BAD_TOKEN|already used/);
    const cfgFile = join(n4dir, 'config.json');
    const cfg = JSON.parse(await readFile(cfgFile, 'utf8')) as Record<string, unknown>;
    cfg.listen = { host: '127.0.0.1', smtp: 0, submission: 0, submissions: 0, pop3: 0, pop3s: 0, imap: 0, imaps: 0, admin: 0 };
    cfg.logLevel = 'warn';
    await writeFile(cfgFile, JSON.stringify(cfg));
    n4 = spawn(process.execPath, [bin, 'up', '--config', cfgFile], { stdio: 'ignore' });
    await waitFor('n4 to catch up and vote', 30_000, async () => {
      const r = await stormo('status', '--data', join(dir, 'n1'));
      return /voters n1,n2,n3,n4/.test(r.out) && /^n4\t.*\tyes$/m.test(r.out) ? true : undefined;
    });
    const book = JSON.parse(await readFile(join(dir, 'n3', 'cluster', 'peers.json'), 'utf8')) as Record<string, string>;
    assert.equal(book.n4, `127.0.0.1:${base + 3 * portsPerNode + 6}`, 'n3 learned the joiner\'s address from n1');
    assert.equal((await stormo('remove', 'n4', '--data', join(dir, 'n3'))).code, 0);
    const after = await stormo('status', '--data', join(dir, 'n1'));
    assert.match(after.out, /voters n1,n2,n3 /);
    assert.doesNotMatch(after.out, /^n4\t/m);
    // Every member learned n4's address when it joined, and forgets it (closing its connections) once removed.
    await waitFor('n2 to drop n4 from its address book', 10_000, async () => {
      const book = JSON.parse(await readFile(join(dir, 'n2', 'cluster', 'peers.json'), 'utf8')) as Record<string, string>;
      return book.n4 === undefined && book.n1 !== undefined ? true : undefined;
    });

    parent.kill('SIGTERM');
    assert.equal(await exited(parent), 0);
    for (const e of Object.values(endpoints)) await assert.rejects(fetch(`${e.admin}/health/live`), 'every node stopped');
  } finally {
    if (parent.exitCode === null && parent.signalCode === null) process.kill(-parent.pid!, 'SIGKILL');
    n4?.kill('SIGKILL');
    await exited(parent);
    if (n4) await exited(n4);
    await rm(dir, { recursive: true, force: true });
  }
});
