// Hostile and broken clients against a real server: overlong lines, binary garbage, wrong-state commands,
// the bad-command limit, wrong passwords (delay, per-connection and per-address limits), STLS injection,
// and PROXY headers (v1, v2, required but missing, spoofed when not configured). None may affect another client.

import assert from 'node:assert/strict';
import net from 'node:net';
import { duplexPair } from 'node:stream';
import { test } from 'node:test';
import tls from 'node:tls';
import { proxyV2Signature } from '../../src/net/proxy-protocol.ts';
import { type Harness, LineClient, eventually, garbage, messageOfSize, proxyV2, proxyV2Tcp4, startHarness, testTls } from './helpers/harness.ts';

async function withHarness(opts: Parameters<typeof startHarness>[0], body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness(opts);
  try {
    await body(h);
    assert.deepEqual(h.backend.violations, []);
  } finally {
    await h.close();
  }
}

async function greeted(port: number): Promise<LineClient> {
  const c = await LineClient.connect(port);
  assert.match(await c.readLine(), /^\+OK stormo POP3 server ready$/);
  return c;
}

async function loggedIn(h: Harness, user = 'alice', password = 'pw'): Promise<LineClient> {
  const c = await greeted(h.port);
  assert.match(await c.command(`USER ${user}`), /^\+OK/);
  assert.match(await c.command(`PASS ${password}`), /^\+OK/);
  return c;
}

const plaintext = { config: { allowPlaintextAuth: true } };

test('overlong command line: -ERR, the rest of the line is skipped, the session goes on (RFC 2449 §4)', { timeout: 10_000 }, async () => {
  await withHarness(plaintext, async (h) => {
    const c = await greeted(h.port);
    assert.equal(await c.command(`USER ${'a'.repeat(300)}`), '-ERR line too long');
    // An endless line: one -ERR as soon as the limit is passed, then nothing until its LF.
    c.sendRaw('X'.repeat(64 * 1024));
    assert.equal(await c.readLine(), '-ERR line too long');
    c.sendRaw('Y'.repeat(64 * 1024));
    c.sendRaw('\r\nCAPA\r\n');
    assert.equal(await c.readLine(), '+OK capability list follows');
    await c.readMultiline();
    assert.match(await c.command('QUIT'), /^\+OK/);
  });
});

test('binary garbage and empty lines get -ERR, count as bad commands, and end in a disconnect', { timeout: 10_000 }, async () => {
  await withHarness({ config: { badCommandsMax: 4 } }, async (h) => {
    const c = await greeted(h.port);
    c.sendRaw(Uint8Array.from([0x00, 0xff, 0xfe, 0x0d, 0x0a]));
    assert.equal(await c.readLine(), '-ERR invalid characters in command');
    assert.equal(await c.command(''), '-ERR empty command');
    c.sendRaw(Uint8Array.from([0x55, 0x53, 0x45, 0x52, 0x20, 0xc3, 0x28, 0x0d, 0x0a])); // invalid UTF-8
    assert.equal(await c.readLine(), '-ERR invalid characters in command');
    c.sendRaw(garbage(2_000, 1939));
    c.sendRaw('\r\n');
    // The 4th bad command (whatever the junk makes of it) closes the connection.
    const rest = await c.closed();
    assert.match(rest, /-ERR too many invalid commands, closing connection\r\n$/);
    assert.equal(h.backend.sessions.length, 0, 'the store was never asked anything');
  });
});

test('commands in the wrong state: -ERR, no effect (RFC 1939 §3)', { timeout: 10_000 }, async () => {
  const backend = await startHarness(plaintext);
  try {
    backend.backend.addAccount('alice', 'pw', [messageOfSize(120, 'one')]);
    const c = await greeted(backend.port);
    for (const cmd of ['STAT', 'LIST', 'RETR 1', 'DELE 1', 'TOP 1 0', 'UIDL', 'RSET', 'NOOP'])
      assert.equal(await c.command(cmd), '-ERR command not valid in this state', cmd);
    c.destroy();
    const t = await loggedIn(backend);
    for (const cmd of ['USER alice', 'PASS pw', 'AUTH PLAIN', 'STLS']) assert.equal(await t.command(cmd), '-ERR command not valid in this state', cmd);
    assert.equal(await t.command('STAT'), '+OK 1 120');
    t.destroy();
  } finally {
    await backend.close();
  }
});

test('too many unknown commands: disconnect after the limit, and the limit is counted per connection', { timeout: 10_000 }, async () => {
  await withHarness({ config: { badCommandsMax: 3 } }, async (h) => {
    const c = await greeted(h.port);
    const other = await greeted(h.port);
    assert.equal(await c.command('HELO there'), '-ERR unknown command');
    assert.equal(await c.command('GET / HTTP/1.1'), '-ERR unknown command');
    assert.equal(await c.command('XYZZY'), '-ERR too many invalid commands, closing connection');
    assert.equal(await c.closed(), '');
    assert.equal(h.logger.events('bad-command-limit').length, 1);
    assert.equal(await other.command('HELO again'), '-ERR unknown command');
    assert.match(await other.command('CAPA'), /^\+OK/);
    other.destroy();
  });
});

test('wrong passwords: each reply waits the failure delay; the connection closes at the per-connection limit', { timeout: 10_000 }, async () => {
  await withHarness({ config: { allowPlaintextAuth: true, authFailureDelayMs: 150, authFailuresPerConnectionMax: 2 } }, async (h) => {
    h.backend.addAccount('alice', 'pw');
    const c = await greeted(h.port);
    await c.command('USER alice');
    let t0 = performance.now();
    assert.equal(await c.command('PASS nope'), '-ERR [AUTH] authentication failed');
    assert.ok(performance.now() - t0 >= 140, `replied after ${performance.now() - t0} ms`);
    await c.command('USER alice');
    t0 = performance.now();
    assert.equal(await c.command('PASS nope'), '-ERR [AUTH] authentication failed');
    assert.ok(performance.now() - t0 >= 140);
    assert.equal(await c.closed(), '');
    const failures = h.logger.events('auth-failed');
    assert.equal(failures.length, 2);
    assert.ok(failures.every((f) => f.user === 'alice' && !JSON.stringify(f).includes('nope')), 'logs name the user, never the password');
  });
});

test('wrong passwords from one address: past the per-address limit even the right password is refused', { timeout: 10_000 }, async () => {
  await withHarness({ config: { allowPlaintextAuth: true, authFailuresPerIpMax: 3, authFailuresPerConnectionMax: 10 } }, async (h) => {
    h.backend.addAccount('alice', 'pw');
    const a = await greeted(h.port);
    for (let i = 0; i < 2; i++) {
      await a.command('USER alice');
      assert.equal(await a.command('PASS bad'), '-ERR [AUTH] authentication failed');
    }
    const b = await greeted(h.port);
    await b.command('USER mallory');
    assert.equal(await b.command('PASS bad'), '-ERR [AUTH] authentication failed');
    assert.equal(await b.closed(), '', 'the failure that reached the limit closes its connection');
    const asked = h.backend.sessions.length;
    await a.command('USER alice');
    assert.equal(await a.command('PASS pw'), '-ERR [AUTH] too many failed logins from your address, try again later');
    assert.equal(await a.closed(), '');
    assert.equal(h.backend.sessions.length, asked, 'a blocked attempt never reaches the store');
    assert.equal(h.logger.events('auth-blocked').length, 1);
  });
});

test('STLS injection: commands pipelined after STLS in the clear are discarded (RFC 2595 §4, CVE-2011-0411)', { timeout: 10_000 }, async () => {
  await withHarness({}, async (h) => {
    h.backend.addAccount('alice', 'pw');
    const c = await greeted(h.port);
    c.sendRaw('STLS\r\nUSER alice\r\n');
    assert.equal(await c.readLine(), '+OK Begin TLS negotiation');
    await c.startTls();
    assert.equal(await c.command('PASS pw'), '-ERR no username given');
    assert.equal(await c.command('STLS'), '-ERR command not permitted when TLS active');
    c.destroy();
  });
});

test('a spoofed PROXY header when none is configured is just bad input (v1: unknown command; v2: its QUIT ends the session)', { timeout: 10_000 }, async () => {
  await withHarness(plaintext, async (h) => {
    h.backend.addAccount('alice', 'pw');
    const v1 = await greeted(h.port);
    assert.equal(await v1.command('PROXY TCP4 203.0.113.9 198.51.100.7 5555 110'), '-ERR unknown command');
    await v1.command('USER alice');
    assert.match(await v1.command('PASS pw'), /^\+OK/);
    assert.equal(h.backend.sessions.at(-1)?.clientIp, '127.0.0.1', 'the spoofed address was not believed');
    v1.destroy();

    const v2 = await greeted(h.port);
    v2.sendRaw(proxyV2Tcp4([203, 0, 113, 9], 5555));
    // "\r\n\r\n\0\r\nQUIT\n": two empty lines, a NUL, then QUIT signs off (the signature is built for this).
    assert.equal(await v2.readLine(), '-ERR empty command');
    assert.equal(await v2.readLine(), '-ERR empty command');
    assert.equal(await v2.readLine(), '-ERR invalid characters in command');
    assert.equal(await v2.readLine(), '+OK stormo POP3 server signing off');
    assert.equal(await v2.closed(), '');
  });
});

test('PROXY required: v1 and v2 headers give the client address to limits, logs and the store', { timeout: 10_000 }, async () => {
  await withHarness({ config: { allowPlaintextAuth: true, proxyProtocol: 'required', connectionsPerIpMax: 1 } }, async (h) => {
    h.backend.addAccount('alice', 'pw');
    const v1 = await LineClient.connect(h.port);
    v1.sendRaw('PROXY TCP4 203.0.113.9 198.51.100.7 5555 110\r\nCAPA\r\n');
    assert.match(await v1.readLine(), /^\+OK stormo POP3 server ready$/);
    assert.equal(await v1.readLine(), '+OK capability list follows', 'bytes after the header are the client’s');
    await v1.readMultiline();
    await v1.command('USER alice');
    assert.match(await v1.command('PASS pw'), /^\+OK/);
    assert.equal(h.backend.sessions.at(-1)?.clientIp, '203.0.113.9');

    const v2 = await LineClient.connect(h.port);
    v2.sendRaw(proxyV2(0x1, 0x21, [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 0x09, ...new Array<number>(15).fill(0), 1, 0x15, 0xb3, 0, 110]));
    assert.match(await v2.readLine(), /^\+OK/);
    await v2.command('USER alice');
    assert.match(await v2.command('PASS pw'), /^\+OK/);
    assert.equal(h.backend.sessions.at(-1)?.clientIp, '2001:db8::9');
    assert.ok(h.logger.events('connect').some((e) => e.ip === '2001:db8::9' && e.peer === '127.0.0.1'));

    // Same proxied address as v1 (still connected): over connectionsPerIpMax = 1, although the TCP peer is shared by all.
    const third = await LineClient.connect(h.port);
    third.sendRaw(proxyV2Tcp4([203, 0, 113, 9], 6000));
    assert.equal(await third.readLine(), '-ERR [SYS/TEMP] too many connections from your address, try again later');
    assert.equal(await third.closed(), '');
    const fourth = await LineClient.connect(h.port);
    fourth.sendRaw(proxyV2Tcp4([203, 0, 113, 10], 6001));
    assert.match(await fourth.readLine(), /^\+OK/);
    for (const c of [v1, v2, fourth]) c.destroy();
  });
});

test('PROXY required: LOCAL (health check) uses the socket address; missing, garbled or late headers are refused silently', { timeout: 10_000 }, async () => {
  await withHarness({ config: { proxyProtocol: 'required', proxyHeaderTimeoutMs: 200 } }, async (h) => {
    const local = await LineClient.connect(h.port);
    local.sendRaw(proxyV2(0x0, 0x00, []));
    assert.match(await local.readLine(), /^\+OK/);
    local.destroy();

    const missing = await LineClient.connect(h.port);
    missing.send('CAPA');
    assert.equal(await missing.closed(), '', 'no greeting without a header');

    const garbled = await LineClient.connect(h.port);
    garbled.sendRaw(Uint8Array.from([...proxyV2Signature.subarray(0, 12), 0x31, 0x11, 0, 0]));
    assert.equal(await garbled.closed(), '');

    const silent = await LineClient.connect(h.port);
    assert.equal(await silent.closed(2_000), '', 'closed after proxyHeaderTimeoutMs');

    await eventually(() => h.logger.events('proxy-header-invalid').length === 3, 'three refusals logged');
    assert.equal(h.server.connectionCount, 0);
  });
});

test('PROXY v2 then implicit TLS in the same segment: the ClientHello after the header reaches TLS', { timeout: 10_000 }, async () => {
  await withHarness({ implicitTls: true, config: { proxyProtocol: 'required' } }, async (h) => {
    h.backend.addAccount('alice', 'pw');
    const raw = net.connect(h.tlsPort ?? 0, '127.0.0.1');
    await new Promise<void>((resolve) => raw.once('connect', resolve));
    const [ours, wire] = duplexPair();
    const header = proxyV2Tcp4([198, 18, 0, 1], 4242);
    let first = true;
    wire.on('data', (d: Buffer) => {
      raw.write(first ? Buffer.concat([header, d]) : d); // header and ClientHello in one write
      first = false;
    });
    raw.on('data', (d) => wire.write(d));
    raw.on('close', () => wire.destroy());
    const secure = tls.connect({ socket: ours, ca: testTls().cert, servername: 'localhost' });
    const received: string[] = [];
    secure.on('data', (d: Buffer) => received.push(d.toString('latin1')));
    await eventually(() => received.join('').includes('\r\n'), 'the greeting over TLS');
    assert.match(received.join(''), /^\+OK stormo POP3 server ready\r\n$/);
    secure.write('USER alice\r\nPASS pw\r\nQUIT\r\n');
    await eventually(() => received.join('').includes('signing off'), 'the sign-off');
    assert.equal(h.backend.sessions.at(-1)?.clientIp, '198.18.0.1');
    assert.equal(h.backend.sessions.at(-1)?.secure, true);
    raw.destroy();
  });
});

test('one bad client never affects others: a garbage flood and a stalled reader while a normal session runs', { timeout: 15_000 }, async () => {
  await withHarness({ config: { allowPlaintextAuth: true, badCommandsMax: 1_000_000 } }, async (h) => {
    h.backend.chunkBytes = 64 * 1024;
    const big = `Subject: big\r\n\r\n${'0123456789abcdef'.repeat(1024 * 1024)}\r\n`; // 16 MiB: several times what socket buffers hold
    h.backend.addAccount('alice', 'pw', [big, messageOfSize(150, 'small')]);
    const flood = await greeted(h.port);
    const stalled = await loggedIn(h);
    stalled.pause();
    stalled.send('RETR 1'); // and never read: the server must wait on backpressure, not buffer it all
    let seed = 1;
    const floodTimer = setInterval(() => flood.sendRaw(garbage(8_192, seed++)), 1);
    try {
      const ok = await loggedIn(h);
      assert.equal(await ok.command('STAT'), `+OK 2 ${big.length + 150}`);
      assert.equal(await ok.command('RETR 2'), '+OK 150 octets');
      assert.equal((await ok.readMultiline()).length, messageOfSize(150, 'small').split('\r\n').length - 1);
      assert.match(await ok.command('QUIT'), /^\+OK/);
    } finally {
      clearInterval(floodTimer);
    }
    const total = Math.ceil(big.length / h.backend.chunkBytes);
    assert.ok(h.backend.chunksRead < total / 2, `the stalled RETR read ${h.backend.chunksRead} of ${total} chunks: output is bounded`);
    flood.destroy();
    stalled.destroy();
    await eventually(() => h.server.connectionCount === 0 && h.backend.openMaildrops === 0, 'all sessions closed');
  });
});

test('seeded command fuzz: random keywords, arguments and junk never raise an internal error or break the store contract', { timeout: 15_000 }, async () => {
  const unlimited = { badCommandsMax: 1_000_000, authFailuresPerConnectionMax: 1_000_000, authFailuresPerIpMax: 1_000_000 };
  await withHarness({ config: { allowPlaintextAuth: true, ...unlimited } }, async (h) => {
    h.backend.addAccount('alice', 'pw', [messageOfSize(120, 'a'), messageOfSize(130, 'b'), 'no header at all', '']);
    const keywords = ['USER', 'PASS', 'AUTH', 'CAPA', 'QUIT', 'STAT', 'LIST', 'RETR', 'DELE', 'NOOP', 'RSET', 'TOP', 'UIDL', 'APOP', 'XTND', 'stat', 'Top'];
    const args = ['', '1', '2', '3', '4', '5', '0', '-1', '99999999999', 'alice', 'pw', 'PLAIN', '*', '=', 'AGFsaWNlAHB3', 'x y z', '1 0', '2 1', '1 99', '\u00e9'];
    for (let seed = 1; seed <= 12; seed++) {
      const rnd = garbage(600, seed);
      let at = 0;
      const pick = <T>(xs: readonly T[]): T => xs[(rnd[at++] ?? 0) % xs.length] as T;
      const c = await LineClient.connect(h.port);
      // Log in first half the time, so that TRANSACTION commands get exercised too.
      const script = seed % 2 === 0 ? ['USER alice', 'PASS pw'] : [];
      while (at < rnd.length - 3) {
        const roll = rnd[at++] ?? 0;
        if (roll < 16) script.push(Buffer.from(garbage(roll * 4, seed * 1000 + at)).toString('latin1').replace(/[\r\n]/g, ''));
        else script.push(`${pick(keywords)} ${pick(args)}`.trimEnd());
      }
      const body = script.filter((l) => !/^quit/i.test(l)).join('\r\n');
      c.sendRaw(`${body}\r\nQUIT\r\n`);
      await c.closed(10_000);
    }
    assert.deepEqual(h.logger.events('internal-error'), []);
    assert.ok(h.logger.events('auth-ok').length >= 6, 'the fuzz reached TRANSACTION');
    await eventually(() => h.backend.openMaildrops === 0, 'all maildrops closed');
    const after = await LineClient.connect(h.port);
    assert.match(await after.readLine(), /^\+OK/, 'the server still serves');
    after.destroy();
  });
});
