// Runs the RFC 1939 example sessions in fixtures/rfc1939-transcript.txt against a real server over TCP.
// Reference: RFC 1939 §5, §7, §10; RFC 2449 §5.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { type Harness, LineClient, messageOfSize, startHarness } from './helpers/harness.ts';

interface Session {
  readonly title: string;
  readonly steps: readonly string[];
}

function loadSessions(): Session[] {
  const text = readFileSync(new URL('./fixtures/rfc1939-transcript.txt', import.meta.url), 'utf8');
  const sessions: { title: string; steps: string[] }[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    if (line.startsWith('==== ')) sessions.push({ title: line.slice(5), steps: [] });
    else {
      const current = sessions.at(-1);
      if (current === undefined) throw new Error(`transcript: step before the first session: ${line}`);
      current.steps.push(line);
    }
  }
  return sessions;
}

const messages = [
  { uidl: 'whqtswO00WBw418f9t5JxYwZ', text: messageOfSize(120, 'first') },
  { uidl: 'QhdPYR:00WBw1Ph7x7', text: messageOfSize(200, 'second') },
];

/** The wire lines of a multi-line body: dot-stuffed, then the terminator. */
function expectedBody(n: number, topLines: number | undefined): string[] {
  const m = messages[n - 1];
  if (m === undefined) throw new Error(`transcript: no message ${n}`);
  let lines = m.text.split('\r\n').slice(0, -1);
  if (topLines !== undefined) {
    const blank = lines.indexOf('');
    lines = lines.slice(0, blank + 1 + topLines);
  }
  return [...lines.map((l) => (l.startsWith('.') ? `.${l}` : l)), '.'];
}

async function play(h: Harness, s: Session): Promise<void> {
  h.backend.addAccount('mrose', 'tanstaaf', messages.map((m) => ({ uidl: m.uidl, bytes: new TextEncoder().encode(m.text) })));
  const client = await LineClient.connect(h.port);
  try {
    for (const [i, step] of s.steps.entries()) {
      const where = `${s.title}, step ${i + 1} (${step})`;
      if (step.startsWith('C: ')) client.send(step.slice(3));
      else if (step.startsWith('S: ')) assert.equal(await client.readLine(), step.slice(3), where);
      else if (step.startsWith('S~ ')) assert.match(await client.readLine(), new RegExp(step.slice(3)), where);
      else if (step.startsWith('S@ ')) {
        const m = /^S@ (\d+)(?: top (\d+))?$/.exec(step);
        assert.ok(m !== null, where);
        for (const want of expectedBody(Number(m[1]), m[2] === undefined ? undefined : Number(m[2]))) assert.equal(await client.readLine(), want, where);
      } else if (step === 'END') assert.equal(await client.closed(), '', where);
      else throw new Error(`transcript: unknown step ${where}`);
    }
  } finally {
    client.destroy();
  }
}

let h: Harness;
before(async () => {
  h = await startHarness({ withTls: false, config: { serverName: 'dewey', allowPlaintextAuth: true } });
});
after(() => h.close());

for (const s of loadSessions()) {
  test(s.title, { timeout: 10_000 }, async () => {
    await play(h, s);
    assert.deepEqual(h.backend.violations, []);
  });
}

test("the §10 session's QUIT removed both messages from the store in one commit", { timeout: 10_000 }, async () => {
  const first = loadSessions()[0];
  assert.ok(first !== undefined);
  await play(h, first);
  assert.equal(h.backend.inbox('mrose').length, 0);
  assert.deepEqual(h.backend.commits.at(-1), ['whqtswO00WBw418f9t5JxYwZ', 'QhdPYR:00WBw1Ph7x7']);
});
