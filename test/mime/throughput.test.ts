// summarize() throughput on the SMTP hot path: a 10 KB and a 1 MB multipart message (base64
// attachments) and a 1 MB text message (every line counted). Prints MB/s; asserts a loose floor.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeSummary, summarize } from '../../src/mime/index.ts';
import { multipartMessage } from './messages.ts';

function measure(m: Buffer, minMs: number): { mbPerS: number; msgPerS: number } {
  for (let i = 0; i < 200; i++) encodeSummary(summarize(m)); // warm up (JIT)
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < minMs) {
    encodeSummary(summarize(m));
    n++;
    t = performance.now();
  }
  const s = (t - t0) / 1000;
  return { mbPerS: (m.length * n) / s / 1e6, msgPerS: n / s };
}

test('summarize + encodeSummary throughput (10 KB and 1 MB multipart, 1 MB text)', () => {
  const text = Buffer.from('Subject: big text\r\nContent-Type: text/plain\r\n\r\n'
    + 'A line of ordinary text that goes on for about seventy characters.\r\n'.repeat(15_000));
  const cases: [string, Buffer][] = [['10 KB multipart', multipartMessage(10_000)], ['1 MB multipart', multipartMessage(1_000_000)], ['1 MB text', text]];
  for (const [name, m] of cases) {
    const r = measure(m, 1_000);
    console.log(`# ${name} (${m.length} B): ${r.msgPerS.toFixed(0)} msg/s, ${r.mbPerS.toFixed(0)} MB/s, summary ${encodeSummary(summarize(m)).length} B`);
    assert.ok(r.msgPerS > 300, `${name}: ${r.msgPerS} msg/s is below the SMTP hot path's needs`);
  }
});
