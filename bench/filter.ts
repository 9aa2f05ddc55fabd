// Washer throughput: messages per second through one in-process node with no scanning, with spamd, with rspamd,
// and with everything on (spamd + clamd + SPF/DKIM/DMARC + DNSBL). Prints figures with units; never fails on timing.
//
// Usage: npm run bench:filter [-- options]     (node bench/filter.ts [options])
//   --seconds N      measuring time per mode (default 10)
//   --sessions N     concurrent SMTP connections (default 20)
//   --size BYTES     message size (default 10240)
//   --modes LIST     none,spamd,rspamd,full (default all; a mode whose daemon is missing is skipped)
//
// Each session keeps one connection and sends MAIL/RCPT/DATA in a loop; a message counts when it got 250.
// Daemons are started on loopback from test/filter/daemons.ts and stopped, with the temp dir, on every exit path.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RawSmtpClient } from '../test/node/fixtures/smtp-client.ts';
import { missing, startClamd, startDnsmasq, startRspamd, startSpamd, type Daemon } from '../test/filter/daemons.ts';
import { dkimKey, heloName, signed, startWasherNode, testZone } from '../test/filter/node.ts';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    sessions: { type: 'string', default: '20' },
    size: { type: 'string', default: '10240' },
    modes: { type: 'string', default: 'none,spamd,rspamd,full' },
  },
});
const seconds = Number(args.seconds);
const sessions = Number(args.sessions);
const sizeBytes = Number(args.size);
const modes = args.modes.split(',').map((m) => m.trim());

/** A plausible business letter padded to `bytes`: it scores low, so every message takes the INBOX path. */
function letter(bytes: number, i: number): string {
  const head = [
    'From: Ann Example <ann@sender.test>',
    'To: alice@example.test',
    `Subject: Quarterly report, part ${i}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <bench-${process.pid}-${i}@sender.test>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    '',
  ].join('\r\n');
  const line = 'The figures for the third quarter are attached below, with the notes from the meeting.\r\n';
  let text = head;
  while (text.length + line.length < bytes) text += line;
  return text;
}

interface Row {
  readonly mode: string;
  readonly messages: number;
  readonly refused: number;
  /** Delivered unscanned by the fail-open policy (a scanner timed out or failed). */
  readonly unscanned: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

async function drive(port: number, payload: Buffer, durationMs: number): Promise<Omit<Row, 'mode' | 'unscanned'>> {
  const latencies: number[] = [];
  let refused = 0;
  const until = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: sessions }, async () => {
      const { client } = await RawSmtpClient.connect(port, { timeoutMs: 60_000 });
      await client.command(`EHLO ${heloName}`);
      while (performance.now() < until) {
        const t0 = performance.now();
        const r = await client.send('ann@sender.test', ['alice@example.test'], payload);
        if (r.reply.code === 250) latencies.push(performance.now() - t0);
        else refused++;
      }
      await client.quit();
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { messages: latencies.length, refused, seconds: elapsed, p50Ms: at(0.5), p99Ms: at(0.99) };
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'stormo-bench-filter-'));
  const daemons: Daemon[] = [];
  const cleanup = async (): Promise<void> => {
    await Promise.all(daemons.map((d) => d.stop().catch(() => {})));
    await rm(root, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  const rows: Row[] = [];
  try {
    const key = dkimKey();
    const dns = missing('dnsmasq') ? null : await startDnsmasq(join(root, 'dns'), testZone(key.record));
    if (dns) daemons.push(dns);
    const payload = await signed(letter(sizeBytes, 1), key.privateKey);
    console.log(`# washer bench: ${sessions} connections, ${payload.length} byte messages, ${seconds} s per mode, Node ${process.version}`);
    for (const mode of modes) {
      const filter = await filterFor(mode, root, dns, daemons);
      if (filter === null) continue;
      const node = await startWasherNode(join(root, `node-${mode}`), { filter, domains: { 'example.test': { dnsblAction: 'score' } }, users: { 'alice@example.test': undefined } });
      try {
        await drive(node.port, payload, 1000); // warm-up: JIT, spamd children, connection setup
        const failedBefore = node.logger.events('scanner.failed').length;
        const measured = await drive(node.port, payload, seconds * 1000);
        const r = { mode, ...measured, unscanned: node.logger.events('scanner.failed').length - failedBefore };
        rows.push(r);
        console.log(
          `${mode.padEnd(7)} ${(r.messages / r.seconds).toFixed(1).padStart(8)} messages/s   p50 ${r.p50Ms.toFixed(1)} ms   p99 ${r.p99Ms.toFixed(1)} ms` +
            `   (${r.messages} stored, ${r.unscanned} of them unscanned, ${r.refused} refused, in ${r.seconds.toFixed(1)} s)`,
        );
      } finally {
        await node.stop();
      }
    }
  } finally {
    await cleanup();
  }
}

/** The washer config for a mode, starting its daemons; null (and a note) when one is not installed. */
async function filterFor(mode: string, root: string, dns: Daemon | null, daemons: Daemon[]): Promise<Record<string, unknown> | null> {
  // Scanner timeouts well above the queueing a 20-connection burst causes, so the figures are scans, not fail-open.
  const off = { auth: { enabled: false }, client: { enabled: false }, dataDeadlineMs: 25_000 };
  const timeoutMs = 20_000;
  const need = (...names: string[]): boolean => {
    const m = missing(...names);
    if (m) console.log(`${mode.padEnd(7)} skipped: ${m}`);
    return m === false;
  };
  switch (mode) {
    case 'none':
      return off;
    case 'spamd': {
      if (!need('spamd')) return null;
      const s = await startSpamd(join(root, 'spamd'));
      daemons.push(s);
      return { ...off, spam: { engine: 'spamd', spamd: { host: '127.0.0.1', port: s.port }, timeoutMs } };
    }
    case 'rspamd': {
      if (!need('rspamd', 'dnsmasq') || dns === null) return null;
      const r = await startRspamd(join(root, 'rspamd'), { dnsPort: dns.port });
      daemons.push(r);
      return { ...off, spam: { engine: 'rspamd', rspamd: { host: '127.0.0.1', port: r.port, controllerPort: r.controllerPort }, timeoutMs } };
    }
    case 'full': {
      if (!need('spamd', 'clamd', 'dnsmasq') || dns === null) return null;
      const s = daemons.find((d) => d.name === 'spamd') ?? (await startSpamd(join(root, 'spamd')));
      const c = await startClamd(join(root, 'clamd'));
      if (!daemons.includes(s)) daemons.push(s);
      daemons.push(c);
      return {
        dnsServers: [`127.0.0.1:${dns.port}`],
        dataDeadlineMs: 25_000,
        spam: { engine: 'spamd', spamd: { host: '127.0.0.1', port: s.port }, timeoutMs },
        antivirus: { engine: 'clamd', clamd: { host: '127.0.0.1', port: c.port }, timeoutMs },
        dnsbl: [{ zone: 'bl.test', weight: 1, action: 'score' }],
      };
    }
    default:
      console.log(`${mode}: unknown mode (none, spamd, rspamd, full)`);
      return null;
  }
}

await main();
