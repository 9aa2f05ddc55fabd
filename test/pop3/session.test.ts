// Session behaviour against a real server: TLS policy for plaintext auth, SASL PLAIN details, the store's
// refusals and failures mapped to response codes, UPDATE only at QUIT, snapshots, idle timeout, connection
// limits, pipelining and shutdown. Reference: RFC 1939 §3, §6; RFC 2449 §8; RFC 2595 §4; RFC 3206; RFC 5034 §4.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pop3BackendError } from '../../src/pop3/backend.ts';
import { resolvePop3Config } from '../../src/pop3/config.ts';
import { isPop3Error } from '../../src/pop3/errors.ts';
import { pop3IdleTimeoutMsDefault } from '../../src/pop3/limits.ts';
import { type Harness, LineClient, ManualTimers, eventually, messageOfSize, startHarness } from './helpers/harness.ts';

const b64 = (s: string): string => Buffer.from(s, 'latin1').toString('base64');

async function withHarness(opts: Parameters<typeof startHarness>[0], body: (h: Harness) => Promise<void>): Promise<void> {
  const h = await startHarness(opts);
  try {
    await body(h);
  } finally {
    await h.close();
  }
  assert.equal(h.backend.openMaildrops, 0, 'every maildrop closed');
  assert.deepEqual(h.backend.violations, []);
}

async function greeted(port: number, tls = false): Promise<LineClient> {
  const c = await LineClient.connect(port, { tls });
  assert.match(await c.readLine(), /^\+OK stormo POP3 server ready$/);
  return c;
}

async function loggedIn(port: number, user = 'alice', password = 'pw'): Promise<LineClient> {
  const c = await greeted(port);
  await c.command(`USER ${user}`);
  assert.match(await c.command(`PASS ${password}`), /^\+OK/);
  return c;
}

async function capa(c: LineClient): Promise<string[]> {
  assert.equal(await c.command('CAPA'), '+OK capability list follows');
  return c.readMultiline();
}

const plaintext = { config: { allowPlaintextAuth: true } };

test('before TLS: USER, PASS and AUTH PLAIN refused with [AUTH] and not advertised; after STLS all work (RFC 2595, RFC 5034)', { timeout: 10_000 }, async () => {
  await withHarness({}, async (h) => {
    h.backend.addAccount('alice', 'pw', [messageOfSize(120, 'x')]);
    const c = await greeted(h.port);
    assert.deepEqual(await capa(c), ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'STLS']);
    const refused = '-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.';
    assert.equal(await c.command('USER alice'), refused);
    assert.equal(await c.command('PASS pw'), refused);
    assert.equal(await c.command(`AUTH PLAIN ${b64('\0alice\0pw')}`), refused);
    assert.equal(await c.command('AUTH'), '+OK methods supported');
    assert.deepEqual(await c.readMultiline(), []);
    assert.equal(h.backend.sessions.length, 0, 'no password reached the store in the clear');
    assert.equal(await c.command('STLS'), '+OK Begin TLS negotiation');
    await c.startTls();
    assert.deepEqual(await capa(c), ['TOP', 'UIDL', 'RESP-CODES', 'AUTH-RESP-CODE', 'PIPELINING', 'USER', 'SASL PLAIN']);
    assert.equal(await c.command('USER alice'), '+OK send PASS');
    assert.equal(await c.command('PASS pw'), "+OK alice's maildrop has 1 messages (120 octets)");
    assert.equal(h.backend.sessions.at(-1)?.secure, true);
    c.destroy();
  });
});

test('STLS without a certificate: -ERR, and not advertised', { timeout: 10_000 }, async () => {
  await withHarness({ withTls: false }, async (h) => {
    const c = await greeted(h.port);
    assert.ok(!(await capa(c)).includes('STLS'));
    assert.equal(await c.command('STLS'), '-ERR TLS not available');
    c.destroy();
  });
});

test('implicit TLS (port 995 style): login at once, no STLS offered', { timeout: 10_000 }, async () => {
  await withHarness({ implicitTls: true }, async (h) => {
    h.backend.addAccount('alice', 'pw');
    const c = await greeted(h.tlsPort ?? 0, true);
    const caps = await capa(c);
    assert.ok(caps.includes('USER') && !caps.includes('STLS'));
    assert.equal(await c.command('STLS'), '-ERR command not permitted when TLS active');
    await c.command('USER alice');
    assert.match(await c.command('PASS pw'), /^\+OK/);
    assert.equal(await c.command('QUIT'), '+OK stormo POP3 server signing off (maildrop empty)');
  });
});

test('AUTH PLAIN (RFC 5034, RFC 4616): initial response, continuation, "*" cancel, malformed, other authzid, other mechanism', { timeout: 10_000 }, async () => {
  await withHarness(plaintext, async (h) => {
    h.backend.addAccount('alice', 'pw');
    const c = await greeted(h.port);
    assert.equal(await c.command('AUTH'), '+OK methods supported');
    assert.deepEqual(await c.readMultiline(), ['PLAIN']);
    assert.equal(await c.command('AUTH LOGIN'), '-ERR unsupported authentication mechanism');
    assert.equal(await c.command('AUTH PLAIN'), '+ ');
    assert.equal(await c.command('*'), '-ERR authentication cancelled');
    assert.equal(await c.command('AUTH PLAIN'), '+ ');
    assert.equal(await c.command('not base64!'), '-ERR malformed authentication response');
    assert.equal(await c.command('AUTH PLAIN ='), '-ERR malformed authentication response');
    assert.equal(await c.command(`AUTH PLAIN ${b64('alice\0pw')}`), '-ERR malformed authentication response');
    assert.equal(await c.command(`AUTH PLAIN ${b64('admin\0alice\0pw')}`), '-ERR [AUTH] authorization identity not permitted');
    assert.equal(await c.command('AUTH PLAIN'), '+ ');
    c.send('A'.repeat(3_000));
    assert.equal(await c.readLine(), '-ERR malformed authentication response');
    assert.equal(await c.command('AUTH PLAIN'), '+ ');
    assert.equal(await c.command(b64('\0alice\0wrong')), '-ERR [AUTH] authentication failed');
    assert.equal(await c.command(`auth plain ${b64('alice\0alice\0pw')}`), "+OK alice's maildrop has 0 messages (0 octets)");
    assert.equal(h.backend.sessions.at(-1)?.mechanism, 'PLAIN');
    c.destroy();
  });
});

test("the store's refusals map to RFC 2449 / RFC 3206 response codes", { timeout: 10_000 }, async () => {
  await withHarness(plaintext, async (h) => {
    h.backend.addAccount('alice', 'pw', [messageOfSize(120, 'a')]);
    const c = await greeted(h.port);
    const cases: [Partial<typeof h.backend.faults>, string][] = [
      [{ authRefusal: 'LOGIN_DELAY' }, '-ERR [LOGIN-DELAY] logged in too recently, try again later'],
      [{ authRefusal: 'IN_USE' }, '-ERR [IN-USE] maildrop already locked'],
      [{ authRefusal: 'TEMPORARY' }, '-ERR [SYS/TEMP] mailbox temporarily unavailable, try again later'],
      [{ authRefusal: 'PERMANENT' }, '-ERR [SYS/PERM] mailbox unavailable'],
      [{ authRefusal: 'DISABLED' }, '-ERR [AUTH] account may not log in'],
      [{ authThrows: true }, '-ERR [SYS/TEMP] mailbox temporarily unavailable, try again later'],
      [{ openError: new Pop3BackendError('IN_USE', 'locked by node 2') }, '-ERR [IN-USE] maildrop already locked'],
      [{ openError: new Pop3BackendError('PERMANENT', 'index corrupt') }, '-ERR [SYS/PERM] mailbox unavailable'],
      [{ openError: new Error('leveldb: IO error') }, '-ERR [SYS/TEMP] mailbox temporarily unavailable, try again later'],
      [{ badUidl: 'has space' }, '-ERR [SYS/TEMP] mailbox temporarily unavailable, try again later'],
    ];
    for (const [faults, reply] of cases) {
      h.backend.faults = faults;
      await c.command('USER alice');
      assert.equal(await c.command('PASS pw'), reply, JSON.stringify(faults));
    }
    assert.equal(h.logger.events('auth-failed').length, 0, 'none of these is a wrong password');
    assert.equal(h.logger.events('maildrop-invalid').length, 1);
    assert.ok(h.logger.events('auth-error').every((e) => !JSON.stringify(e).includes('"pw"')));
    assert.equal(h.backend.openMaildrops, 0, 'a refused snapshot is closed again');
    h.backend.faults = {};
    await c.command('USER alice');
    assert.match(await c.command('PASS pw'), /^\+OK/, 'the session recovers once the store does');
    c.destroy();
  });
});

test('UPDATE only at QUIT: DELE + drop deletes nothing; DELE + RSET + QUIT deletes nothing; a failed commit deletes nothing', { timeout: 10_000 }, async () => {
  await withHarness(plaintext, async (h) => {
    h.backend.addAccount('alice', 'pw', [messageOfSize(120, 'a'), messageOfSize(130, 'b')]);
    const dropped = await loggedIn(h.port);
    assert.equal(await dropped.command('DELE 1'), '+OK message 1 deleted');
    dropped.destroy();
    await eventually(() => h.backend.openMaildrops === 0, 'the dropped session closed its maildrop');
    assert.equal(h.backend.inbox('alice').length, 2);

    const reset = await loggedIn(h.port);
    await reset.command('DELE 1');
    await reset.command('DELE 2');
    assert.equal(await reset.command('RSET'), '+OK maildrop has 2 messages (250 octets)');
    assert.equal(await reset.command('QUIT'), '+OK stormo POP3 server signing off (2 messages left)');
    assert.equal(h.backend.commits.length, 0, 'nothing marked: no commit');

    h.backend.faults = { commitFails: true };
    const failing = await loggedIn(h.port);
    await failing.command('DELE 2');
    assert.equal(await failing.command('QUIT'), '-ERR [SYS/TEMP] some deleted messages not removed');
    assert.equal(await failing.closed(), '');
    assert.equal(h.backend.inbox('alice').length, 2);
    assert.equal(h.logger.events('update-failed').length, 1);
    h.backend.faults = {};

    const [keep, remove] = h.backend.inbox('alice').map((m) => m.uidl);
    const good = await loggedIn(h.port);
    await good.command('DELE 2');
    assert.equal(await good.command('QUIT'), '+OK stormo POP3 server signing off (1 messages left)');
    assert.equal(await good.closed(), '');
    assert.deepEqual(h.backend.commits, [[remove]]);
    assert.deepEqual(h.backend.inbox('alice').map((m) => m.uidl), [keep]);
  });
});

test('snapshots: later deliveries are invisible; a message another session deleted is still listed and can be deleted again', { timeout: 10_000 }, async () => {
  await withHarness(plaintext, async (h) => {
    h.backend.addAccount('alice', 'pw', [messageOfSize(120, 'a'), messageOfSize(130, 'b')]);
    const a = await loggedIn(h.port);
    const b = await loggedIn(h.port);
    h.backend.deliver('alice', messageOfSize(140, 'late'));
    assert.equal(await a.command('STAT'), '+OK 2 250');
    await a.command('DELE 1');
    assert.match(await a.command('QUIT'), /signing off \(1 messages left\)/);
    assert.equal(await b.command('STAT'), '+OK 2 250', 'b keeps its snapshot');
    assert.equal(await b.command('RETR 1'), '+OK 120 octets');
    await b.readMultiline();
    await b.command('DELE 1');
    assert.match(await b.command('QUIT'), /^\+OK/, 'deleting a message already gone is fine');
    assert.equal(h.backend.inbox('alice').length, 2);
    const c = await loggedIn(h.port);
    assert.equal(await c.command('STAT'), '+OK 2 270');
    c.destroy();
  });
});

test('a message that cannot be read: before the first octet -ERR [SYS/TEMP] and the session goes on; midway the connection closes', { timeout: 10_000 }, async () => {
  await withHarness(plaintext, async (h) => {
    h.backend.addAccount('alice', 'pw', [messageOfSize(120, 'a'), messageOfSize(130, 'b')]);
    const c = await loggedIn(h.port);
    h.backend.faults = { readFails: 'first' };
    assert.equal(await c.command('RETR 1'), '-ERR [SYS/TEMP] mailbox temporarily unavailable, try again later');
    assert.equal(await c.command('TOP 1 0'), '-ERR [SYS/TEMP] mailbox temporarily unavailable, try again later');
    assert.equal(await c.command('NOOP'), '+OK');
    assert.equal(await c.command('DELE 2'), '+OK message 2 deleted');
    h.backend.faults = { readFails: 'midway' };
    assert.equal(await c.command('RETR 1'), '+OK 120 octets');
    await c.closed();
    await eventually(() => h.backend.openMaildrops === 0, 'maildrop closed');
    assert.equal(h.backend.inbox('alice').length, 2, 'no UPDATE');
    assert.equal(h.logger.events('message-read-failed').length, 3);
  });
});

test('idle timeout (RFC 1939 §3): closes silently without UPDATE; not shorter than 10 minutes by configuration', { timeout: 10_000 }, async () => {
  const timers = new ManualTimers();
  await withHarness({ ...plaintext, timers }, async (h) => {
    h.backend.addAccount('alice', 'pw', [messageOfSize(120, 'a')]);
    const c = await loggedIn(h.port);
    await c.command('DELE 1');
    await eventually(() => timers.pendingFor(pop3IdleTimeoutMsDefault) === 1, 'the idle timer armed while waiting for a command');
    assert.equal(timers.fire(pop3IdleTimeoutMsDefault), 1);
    assert.equal(await c.closed(), '', 'no response is sent (RFC 1939 §3)');
    await eventually(() => h.backend.openMaildrops === 0, 'maildrop closed');
    assert.equal(h.backend.inbox('alice').length, 1);
    assert.equal(h.logger.events('idle-timeout').length, 1);
  });
  assert.throws(
    () => resolvePop3Config({ plain: { host: '127.0.0.1', port: 0 }, idleTimeoutMs: 60_000 }),
    (e: unknown) => isPop3Error(e, 'CONFIG_INVALID'),
  );
  assert.throws(() => resolvePop3Config({ implicitTls: { host: '127.0.0.1', port: 0 } }), (e: unknown) => isPop3Error(e, 'CONFIG_INVALID'));
  assert.throws(() => resolvePop3Config({}), (e: unknown) => isPop3Error(e, 'CONFIG_INVALID'));
});

test('connection limits: total and per address, with [SYS/TEMP] (RFC 3206); slots free up on close', { timeout: 10_000 }, async () => {
  await withHarness({ config: { connectionsMax: 3, connectionsPerIpMax: 2 } }, async (h) => {
    const a = await greeted(h.port);
    const b = await greeted(h.port);
    const c = await LineClient.connect(h.port);
    assert.equal(await c.readLine(), '-ERR [SYS/TEMP] too many connections from your address, try again later');
    assert.equal(await c.closed(), '');
    a.destroy();
    await eventually(() => h.server.connectionCount === 1, 'a closed');
    const d = await greeted(h.port);
    d.destroy();
    b.destroy();
  });
  await withHarness({ config: { connectionsMax: 1 } }, async (h) => {
    const a = await greeted(h.port);
    const b = await LineClient.connect(h.port);
    assert.equal(await b.readLine(), '-ERR [SYS/TEMP] too many connections, try again later');
    a.destroy();
  });
});

test('pipelining (RFC 2449 §6 PIPELINING): a batch of commands in one write is answered in order', { timeout: 10_000 }, async () => {
  await withHarness(plaintext, async (h) => {
    h.backend.addAccount('alice', 'pw', [messageOfSize(120, 'a'), messageOfSize(130, 'b')]);
    const c = await greeted(h.port);
    c.sendRaw('USER alice\r\nPASS pw\r\nSTAT\r\nLIST\r\nUIDL 2\r\nDELE 1\r\nTOP 2 0\r\nQUIT\r\n');
    assert.equal(await c.readLine(), '+OK send PASS');
    assert.equal(await c.readLine(), "+OK alice's maildrop has 2 messages (250 octets)");
    assert.equal(await c.readLine(), '+OK 2 250');
    assert.equal(await c.readLine(), '+OK 2 messages (250 octets)');
    assert.deepEqual(await c.readMultiline(), ['1 120', '2 130']);
    assert.match(await c.readLine(), /^\+OK 2 uid-\d+$/);
    assert.equal(await c.readLine(), '+OK message 1 deleted');
    assert.equal(await c.readLine(), '+OK top of message follows');
    assert.deepEqual(await c.readMultiline(), ['From: sender@example.org', 'To: mrose@example.org', 'Subject: b', '']);
    assert.equal(await c.readLine(), '+OK stormo POP3 server signing off (1 messages left)');
    assert.equal(await c.closed(), '');
  });
});

test('a client that sends its commands and FIN at once still gets every reply, and QUIT still updates', { timeout: 10_000 }, async () => {
  await withHarness(plaintext, async (h) => {
    h.backend.addAccount('alice', 'pw', [messageOfSize(120, 'a'), messageOfSize(130, 'b')]);
    const c = await LineClient.connect(h.port);
    c.sendRaw('USER alice\r\nPASS pw\r\nDELE 1\r\nQUIT\r\n');
    c.end();
    const transcript = await c.closed();
    assert.match(transcript, /^\+OK stormo POP3 server ready\r\n\+OK send PASS\r\n\+OK alice's maildrop .*\r\n\+OK message 1 deleted\r\n\+OK .*\(1 messages left\)\r\n$/);
    assert.equal(h.backend.inbox('alice').length, 1);
  });
});

test('server close(): every session ends without UPDATE and every maildrop is closed', { timeout: 10_000 }, async () => {
  const h = await startHarness(plaintext);
  h.backend.addAccount('alice', 'pw', [messageOfSize(120, 'a')]);
  const a = await loggedIn(h.port);
  await a.command('DELE 1');
  const b = await greeted(h.port);
  await h.close();
  assert.equal(await a.closed(), '');
  assert.equal(await b.closed(), '');
  assert.equal(h.backend.openMaildrops, 0);
  assert.equal(h.backend.inbox('alice').length, 1);
  assert.equal(h.server.connectionCount, 0);
  assert.deepEqual(h.backend.violations, []);
});

test('logs: one vocabulary, every session line carries subsystem, cid and ip; no password anywhere', { timeout: 10_000 }, async () => {
  await withHarness(plaintext, async (h) => {
    h.backend.addAccount('alice', 'correct horse');
    const c = await greeted(h.port);
    await c.command('USER alice');
    await c.command('PASS wrong battery');
    await c.command('USER alice');
    await c.command('PASS correct horse');
    await c.command('QUIT');
    await c.closed();
    await eventually(() => h.logger.events('session-end').length === 1, 'session end logged');
    const text = JSON.stringify(h.logger.entries);
    assert.ok(!text.includes('wrong battery') && !text.includes('correct horse'));
    const session = h.logger.entries.filter((e) => e.fields.cid !== undefined && e.fields.event !== 'refused');
    assert.ok(session.length >= 4);
    const cid = session[0]?.fields.cid;
    for (const e of session) {
      assert.equal(e.fields.subsystem, 'pop3');
      assert.equal(e.fields.cid, cid);
      assert.equal(typeof e.fields.event, 'string');
    }
    assert.deepEqual(
      session.map((e) => e.fields.event),
      ['connect', 'auth-failed', 'auth-ok', 'update', 'session-end'],
    );
  });
});
