// Real client: Python's poplib (STLS and implicit TLS): STAT, LIST, UIDL, RETR, TOP, DELE + QUIT, then a
// new session sees the message gone; DELE then a dropped connection deletes nothing (RFC 1939 §6).

import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { type Harness, messageOfSize, startHarness, testTls } from './helpers/harness.ts';

const script = fileURLToPath(new URL('./fixtures/poplib_client.py', import.meta.url));

function hasPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'import poplib, ssl'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}
const skip = hasPython() ? false : 'python3 with poplib and ssl is not installed';

type Step = [string, ...number[]];
interface PoplibOutput {
  readonly results: unknown[];
  readonly error?: string;
}

function poplib(port: number, tlsMode: 'stls' | 'implicit' | 'none', steps: Step[], password = 'hunter2 with spaces'): Promise<PoplibOutput> {
  const spec = { port, tls: tlsMode, cafile: testTls().certPath, user: 'bob', password, steps };
  return new Promise((resolve, reject) => {
    execFile('python3', [script, JSON.stringify(spec)], { encoding: 'utf8', timeout: 10_000 }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`poplib client failed: ${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as PoplibOutput);
    });
  });
}

const m1 = messageOfSize(140, 'python one');
const m2 = messageOfSize(160, 'python two');
const m3 = 'Subject: bare LF\n\n.dot line\nlast line without newline';
let h: Harness;

before(async () => {
  if (skip !== false) return;
  h = await startHarness({ implicitTls: true });
  h.backend.addAccount('bob', 'hunter2 with spaces', [
    { uidl: 'u-1', bytes: new TextEncoder().encode(m1) },
    { uidl: 'u-2', bytes: new TextEncoder().encode(m2) },
  ]);
});
after(() => h?.close());

test('poplib over STLS: stat, list, uidl, retr, top, then dele + quit; a new session shows it gone', { skip, timeout: 15_000 }, async () => {
  const out = await poplib(h.port, 'stls', [['capa'], ['stat'], ['list'], ['uidl'], ['retr', 1], ['top', 2, 1], ['dele', 1], ['quit']]);
  assert.equal(out.error, undefined);
  const [capa, stat, list, uidl, retr, top, dele, quit] = out.results as [string[], number[], string[], string[], { resp: string; lines: string[]; octets: number }, { resp: string; lines: string[] }, string, string];
  // CAPA after login (TRANSACTION): no USER, SASL or STLS (RFC 2449 §6: AUTHORIZATION-only capabilities).
  assert.deepEqual(capa, ['AUTH-RESP-CODE', 'PIPELINING', 'RESP-CODES', 'TOP', 'UIDL']);
  assert.deepEqual(stat, [2, 300]);
  assert.deepEqual(list, ['+OK 2 messages (300 octets)', '1 140', '2 160']);
  assert.deepEqual(uidl, ['+OK unique-id listing follows', '1 u-1', '2 u-2']);
  assert.equal(retr.resp, '+OK 140 octets');
  assert.deepEqual(retr.lines, m1.split('\r\n').slice(0, -1));
  const headerAndOne = m2.split('\r\n');
  assert.deepEqual(top.lines, headerAndOne.slice(0, headerAndOne.indexOf('') + 2));
  assert.equal(dele, '+OK message 1 deleted');
  assert.equal(quit, '+OK stormo POP3 server signing off (1 messages left)');

  const again = await poplib(h.tlsPort ?? 0, 'implicit', [['stat'], ['uidl'], ['quit']]);
  assert.deepEqual(again.results.slice(0, 2), [[1, 160], ['+OK unique-id listing follows', '1 u-2']]);
  assert.deepEqual(h.backend.violations, []);
});

test('poplib: dele then a dropped connection deletes nothing', { skip, timeout: 15_000 }, async () => {
  const before = h.backend.inbox('bob').map((m) => m.uidl);
  const out = await poplib(h.tlsPort ?? 0, 'implicit', [['dele', 1], ['drop']]);
  assert.deepEqual(out.results, ['+OK message 1 deleted', 'dropped']);
  await waitFor(() => h.backend.openMaildrops === 0);
  assert.deepEqual(h.backend.inbox('bob').map((m) => m.uidl), before);
  const check = await poplib(h.port, 'stls', [['stat'], ['quit']]);
  assert.equal((check.results[0] as number[])[0], before.length);
});

test('poplib: a message stored with bare LFs arrives with CRLF, dot-stuffed and terminated', { skip, timeout: 15_000 }, async () => {
  h.backend.deliver('bob', { uidl: 'u-bare', bytes: new TextEncoder().encode(m3) });
  const n = h.backend.inbox('bob').length;
  const out = await poplib(h.tlsPort ?? 0, 'implicit', [['retr', n], ['quit']]);
  const retr = out.results[0] as { lines: string[] };
  assert.deepEqual(retr.lines, ['Subject: bare LF', '', '.dot line', 'last line without newline']);
});

test('poplib: wrong password is refused with [AUTH]', { skip, timeout: 15_000 }, async () => {
  const out = await poplib(h.port, 'stls', [['stat']], 'not it');
  assert.equal(out.error, '-ERR [AUTH] authentication failed');
});

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond());
}
