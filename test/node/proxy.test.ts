// Behind a balancer: with `proxy` configured, SMTP and POP3 take the client address from the PROXY
// header that swaks and curl send, as HAProxy would; POP3 refuses connections without one.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseConfig } from '../../src/cli/config.ts';
import { up } from '../../src/cli/up.ts';

const run = promisify(execFile);
const port = (hostPort: string | undefined): number => Number(hostPort!.split(':')[1]);

test('PROXY v1 and v2 from a trusted balancer: the real client address reaches Received; POP3 requires the header', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-proxy-'));
  const node = await up(
    parseConfig({ dataDir: dir, logLevel: 'warn', proxy: { trustedProxies: ['127.0.0.1'] }, listen: { admin: 0, smtp: 0, submission: 0, submissions: 0, pop3: 0, pop3s: 0, imap: 0, imaps: 0 } }),
  );
  try {
    const token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
    const post = (path: string, body: unknown) =>
      fetch(`${node.endpoints.admin}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post('/v1/tenants', { id: 'reseller-1', name: 'Reseller One' })).status, 201);
    assert.equal((await post('/v1/domains', { name: 'example.com', tenant: 'reseller-1' })).status, 201);
    assert.equal((await post('/v1/users', { address: 'alice@example.com', password: 'pw' })).status, 201);
    assert.equal((await node.store.queries.domain('example.com'))?.tenant, 'reseller-1');

    const e = node.endpoints;
    const sent = await run('swaks', ['--to', 'alice@example.com', '--from', 'bob@remote.example', '--server', `127.0.0.1:${port(e.smtp)}`, '--proxy-version', '1', '--proxy-family', 'TCP4', '--proxy-source', '203.0.113.7', '--proxy-source-port', '40000', '--proxy-dest', '127.0.0.1', '--proxy-dest-port', '25'], { timeout: 20_000 });
    assert.match(sent.stdout, /250 2\.0\.0/);
    const pop = await run('curl', ['-s', '--haproxy-protocol', '--user', 'alice@example.com:pw', '--ssl-reqd', '-k', `pop3://127.0.0.1:${port(e.pop3)}/1`], { timeout: 20_000 });
    assert.match(pop.stdout, /Received: from .*203\.0\.113\.7/);

    // PROXY v2 (HAProxy send-proxy-v2) on SMTP too, IPv6 source; a garbage header closes the connection.
    const v2 = await run('swaks', ['--to', 'alice@example.com', '--from', 'bob@remote.example', '--server', `127.0.0.1:${port(e.smtp)}`, '--proxy-version', '2', '--proxy-family', 'AF_INET6', '--proxy-source', '2001:db8::9', '--proxy-source-port', '40001', '--proxy-dest', '2001:db8::1', '--proxy-dest-port', '25'], { timeout: 20_000 });
    assert.match(v2.stdout, /250 2\.0\.0/);
    const second = await run('curl', ['-s', '--haproxy-protocol', '--user', 'alice@example.com:pw', '--ssl-reqd', '-k', `pop3://127.0.0.1:${port(e.pop3)}/2`], { timeout: 20_000 });
    assert.match(second.stdout, /Received: from .*2001:db8::9/);
    const smtpGarbage = await new Promise<string>((resolve) => {
      let got = '';
      const s = connect(port(e.smtp), '127.0.0.1', () => s.write('HELO not-a-proxy-header\r\n'));
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      setTimeout(() => s.destroy(), 8_000);
    });
    assert.doesNotMatch(smtpGarbage, /^220/, 'no greeting without a valid header from a trusted proxy');

    // Without the header the POP3 listener closes the connection without a greeting.
    const greeting = await new Promise<string>((resolve) => {
      let got = '';
      const s = connect(port(e.pop3), '127.0.0.1');
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      setTimeout(() => s.destroy(), 8_000);
    });
    assert.doesNotMatch(greeting, /^\+OK/);
  } finally {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

/** The first bytes a server sends to a connection from `localAddress`, or '' when it closes without a word. */
function firstWords(port: number, localAddress: string, send?: Buffer): Promise<string> {
  return new Promise<string>((resolve) => {
    let got = '';
    const s = connect({ port, host: '127.0.0.1', localAddress }, () => {
      if (send) s.write(send);
    });
    s.on('data', (d) => {
      got += d.toString();
      if (got.includes('\n')) s.destroy();
    });
    s.on('close', () => resolve(got));
    s.on('error', () => resolve(got));
    setTimeout(() => s.destroy(), 8_000);
  });
}

test('only the trusted balancer address must send a header; direct clients are served as they are', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'stormo-proxy-'));
  const node = await up(
    parseConfig({ dataDir: dir, logLevel: 'warn', proxy: { trustedProxies: ['127.0.0.2'] }, listen: { admin: 0, smtp: 0, submission: 0, submissions: 0, pop3: 0, pop3s: 0, imap: 0, imaps: 0 } }),
  );
  try {
    const e = node.endpoints;
    const v1 = Buffer.from('PROXY TCP4 198.51.100.4 127.0.0.1 40000 110\r\n');
    for (const [name, hostPort, greeting] of [['smtp', e.smtp, /^220 /], ['pop3', e.pop3, /^\+OK/], ['imap', e.imap, /^\* OK/]] as const) {
      assert.match(await firstWords(port(hostPort), '127.0.0.1', undefined), greeting, `${name}: a direct client is greeted`);
      assert.doesNotMatch(await firstWords(port(hostPort), '127.0.0.2', Buffer.from('HELLO\r\n')), greeting, `${name}: the balancer's address without a header is not`);
      assert.match(await firstWords(port(hostPort), '127.0.0.2', v1), greeting, `${name}: the balancer's address with a header is`);
    }
  } finally {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
