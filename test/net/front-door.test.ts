// The shared front door on real loopback sockets with a minimal session: refusals carry the caller's octets,
// the PROXY header's source becomes the client address, close() ends sessions; plus the login limit and the
// shared config checks. Reference: HAProxy proxy-protocol.txt §2.1.

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { type ResolvedConnectionLimits, checkInteger, resolveConnectionLimits, resolveFrontDoor } from '../../src/net/config.ts';
import { type AdmittedConnection, FrontDoor } from '../../src/net/front-door.ts';
import { AuthFailureTracker } from '../../src/net/limiters.ts';
import { LoginLimit } from '../../src/net/login-limit.ts';
import { realTimers } from '../../src/net/timers.ts';

const limits: ResolvedConnectionLimits = {
  tlsHandshakeTimeoutMs: 5_000,
  proxyHeaderTimeoutMs: 2_000,
  connectionsMax: 3,
  connectionsPerIpMax: 2,
  badCommandsMax: 10,
  authFailureDelayMs: 0,
  authFailuresPerConnectionMax: 2,
  authFailuresPerIpMax: 3,
  authFailureWindowMs: 60_000,
};

const invalid = (message: string): never => {
  throw new Error(message);
};

/** Greets with the client address and lives until the socket closes. */
class HelloSession {
  readonly c: AdmittedConnection;
  constructor(c: AdmittedConnection) {
    this.c = c;
  }
  run(): Promise<void> {
    this.c.socket.write(`hello ${this.c.clientIp}\n`);
    this.c.socket.resume();
    return new Promise((resolve) => this.c.socket.once('close', () => resolve()));
  }
  shutdown(): void {
    this.c.socket.end('bye\n');
  }
}

async function startDoor(overrides: { proxyProtocol?: 'required'; connectionsPerIpMax?: number } = {}) {
  const config = { ...resolveFrontDoor({ plain: { host: '127.0.0.1', port: 0 }, proxyProtocol: overrides.proxyProtocol }, invalid), ...limits, ...overrides };
  const door = new FrontDoor<HelloSession>({
    subsystem: 'test',
    protocol: 'TEST',
    config,
    refusals: { shuttingDown: 'closing\n', tooManyConnections: 'full\n', tooManyConnectionsFromAddress: 'too many from you\n' },
    closeLingerMs: 1_000,
    error: (code, message, cause) => new Error(`${code}: ${message}`, { cause }),
    newSession: (c) => new HelloSession(c),
  });
  const address = await door.bind('plain', { host: '127.0.0.1', port: 0 });
  return { door, port: address.port };
}

/** Connects, optionally sends `first`, and collects everything until the server closes or `until` is seen. */
function talk(port: number, first?: string | Uint8Array, until?: string): Promise<{ text: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => reject(new Error(`timeout, got ${JSON.stringify(text)}`)), 5_000);
    const done = (): void => {
      clearTimeout(timer);
      resolve({ text, socket });
    };
    socket.on('connect', () => {
      if (first !== undefined) socket.write(first);
    });
    socket.on('data', (d) => {
      text += d.toString();
      if (until !== undefined && text.includes(until)) done();
    });
    socket.on('close', done);
    socket.on('error', () => {});
  });
}

test('per-address limit: the caller\'s refusal octets, then close; close() shuts sessions down', async () => {
  const { door, port } = await startDoor();
  try {
    const a = await talk(port, undefined, '\n');
    const b = await talk(port, undefined, '\n');
    assert.equal(a.text, 'hello 127.0.0.1\n');
    assert.equal(b.text, 'hello 127.0.0.1\n');
    const refused = await talk(port);
    assert.equal(refused.text, 'too many from you\n');
    assert.equal(door.connectionCount, 2);
    assert.equal(door.sessions().length, 2);
    const ended = new Promise<string>((resolve) => {
      let rest = '';
      a.socket.on('data', (d) => (rest += d.toString()));
      a.socket.on('end', () => resolve(rest));
    });
    await door.close();
    assert.equal(await ended, 'bye\n');
    assert.equal(door.connectionCount, 0);
    a.socket.destroy();
    b.socket.destroy();
  } finally {
    await door.close();
  }
});

test('PROXY required: a v1 header sets the client address; a connection without one is closed silently', async () => {
  const { door, port } = await startDoor({ proxyProtocol: 'required', connectionsPerIpMax: 5 });
  try {
    const proxied = await talk(port, 'PROXY TCP4 192.0.2.9 198.51.100.7 40000 110\r\n', '\n');
    assert.equal(proxied.text, 'hello 192.0.2.9\n');
    proxied.socket.destroy();
    const bare = await talk(port, 'hello there\r\n');
    assert.equal(bare.text, '');
  } finally {
    await door.close();
  }
});

test('LoginLimit: closes after the per-connection maximum; the address is blocked at the per-address one', async () => {
  const tracker = new AuthFailureTracker({ failuresMax: 3, windowMs: 60_000 }, () => realTimers.now());
  const opts = { clientIp: '2001:db8::1', tracker, timers: realTimers, failureDelayMs: 0, failuresPerConnectionMax: 2 };
  const first = new LoginLimit(opts);
  assert.equal(await first.failed(), false);
  assert.equal(await first.failed(), true);
  // Same /64: one more failure from another connection reaches the per-address limit.
  const second = new LoginLimit({ ...opts, clientIp: '2001:db8::2' });
  assert.equal(second.blocked(), false);
  assert.equal(await second.failed(), true);
  assert.equal(second.blocked(), true);
  assert.equal(new LoginLimit({ ...opts, clientIp: '2001:db9::1' }).blocked(), false);
});

test('config: listener checks report through the caller; limits take its defaults and check ranges', () => {
  assert.throws(() => resolveFrontDoor({}, invalid), /at least one of plain and implicitTls/);
  assert.throws(() => resolveFrontDoor({ implicitTls: { host: '::', port: 993 } }, invalid), /implicitTls needs tls/);
  assert.throws(() => resolveFrontDoor({ plain: { host: '', port: 1 } }, invalid), /plain.host must be set/);
  const r = resolveFrontDoor({ plain: { host: '::', port: 143 }, trustedProxies: ['::ffff:10.0.0.1'] }, invalid);
  assert.equal(r.serverName, 'stormo');
  assert.deepEqual([...(r.trustedProxies ?? [])], ['10.0.0.1']);
  assert.deepEqual(resolveConnectionLimits({}, limits, invalid), limits);
  assert.equal(resolveConnectionLimits({ connectionsMax: 7 }, limits, invalid).connectionsMax, 7);
  assert.throws(() => resolveConnectionLimits({ authFailureWindowMs: 0 }, limits, invalid), /authFailureWindowMs must be an integer >= 1, got 0/);
  assert.throws(() => checkInteger(invalid, 'x', 1.5, 0), /x must be an integer >= 0/);
});
