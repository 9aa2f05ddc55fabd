// `stormo up`: start a node (store, admin API, and the mail front ends) and print its endpoints.
// The composition root: the only place that wires subsystems together.

import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pino, { type Logger } from 'pino';
import { buildAdmin } from '../admin/server.ts';
import { BlobStore, collectGarbage } from '../blob/index.ts';
import { Pop3Server } from '../pop3/server.ts';
import { storePop3Backend } from '../pop3/store-backend.ts';
import { SmtpFrontEnd } from '../smtp/index.ts';
import { storeSmtpBackend } from '../smtp/store-backend.ts';
import { Store } from '../store/index.ts';
import type { Config } from './config.ts';

export interface Endpoints {
  nodeId: string;
  admin: string;
  smtp?: string;
  submission?: string;
  submissions?: string;
  pop3?: string;
  pop3s?: string;
}

export interface RunningNode {
  endpoints: Endpoints;
  store: Store;
  logger: Logger;
  stop(): Promise<void>;
}

const exists = (p: string): Promise<boolean> => access(p).then(() => true, () => false);

/** The admin credential: generated once per install, readable by its owner only. */
export async function adminToken(dataDir: string): Promise<string> {
  const file = join(dataDir, 'admin.token');
  if (await exists(file)) return (await readFile(file, 'utf8')).trim();
  const token = randomBytes(32).toString('base64url');
  await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(file, 0o600);
  return token;
}

/** A self-signed certificate for local use, made once with openssl. */
export async function localTls(dataDir: string, hostname: string): Promise<{ certFile: string; keyFile: string }> {
  const certFile = join(dataDir, 'tls', 'cert.pem');
  const keyFile = join(dataDir, 'tls', 'key.pem');
  if ((await exists(certFile)) && (await exists(keyFile))) return { certFile, keyFile };
  await mkdir(join(dataDir, 'tls'), { recursive: true, mode: 0o700 });
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '825', '-subj', `/CN=${hostname}`,
    '-addext', `subjectAltName=DNS:${hostname},DNS:localhost,IP:127.0.0.1`, '-keyout', keyFile, '-out', certFile,
  ]);
  await chmod(keyFile, 0o600);
  return { certFile, keyFile };
}

export interface UpOptions {
  /**
   * The store stopped on a disk failure and takes no more writes. The CLI exits (status 70) so a
   * supervisor restarts the node, which recovers from its log; tests observe it instead.
   */
  onFatal?: (error: Error) => void;
}

export async function up(cfg: Config, opts: UpOptions = {}): Promise<RunningNode> {
  const dataDir = resolve(cfg.dataDir);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const logger = pino({ level: cfg.logLevel, base: { nodeId: cfg.nodeId } });
  const token = await adminToken(dataDir);
  const tls = cfg.tls ?? (await localTls(dataDir, cfg.hostname));
  const store = await Store.open({ dir: dataDir, nodeId: cfg.nodeId });
  store.onFatal((err) => {
    logger.fatal({ subsystem: 'node', event: 'storeFailed', err }, 'the store stopped on a disk failure: restart the node once the disk is fixed');
    opts.onFatal?.(err);
  });
  const blobs = await BlobStore.open(join(dataDir, 'blobs'), { blobBytesMax: cfg.messageBytesMax + 64 * 1024 });
  const host = cfg.listen.host;
  const smtp = new SmtpFrontEnd(
    {
      hostname: cfg.hostname,
      bindAddress: host,
      tls: { keyPath: tls.keyFile, certPath: tls.certFile },
      listeners: {
        mx: { port: cfg.listen.smtp, proxyProtocol: cfg.proxy },
        submission: { port: cfg.listen.submission, proxyProtocol: cfg.proxy },
        submissions: { port: cfg.listen.submissions, proxyProtocol: cfg.proxy },
      },
      limits: { messageBytesMax: cfg.messageBytesMax },
    },
    { backend: storeSmtpBackend(store, blobs, { diskReserveBytes: cfg.diskReserveBytes }), logger },
  );
  const smtpBound = await smtp.start();
  const pop3 = new Pop3Server({
    config: {
      serverName: cfg.hostname,
      plain: { host, port: cfg.listen.pop3 },
      implicitTls: { host, port: cfg.listen.pop3s },
      tls: { key: readFileSync(tls.keyFile), cert: readFileSync(tls.certFile), minVersion: 'TLSv1.2' },
      proxyProtocol: cfg.proxy ? 'required' : 'off',
    },
    backend: storePop3Backend(store, blobs),
    logger,
  });
  const pop3Bound = await pop3.listen();
  const admin = await buildAdmin({ store, token, logger });
  await admin.listen({ host, port: cfg.listen.admin });
  const adminPort = (admin.server.address() as { port: number }).port;
  const endpoints: Endpoints = { nodeId: cfg.nodeId, admin: `http://${host}:${adminPort}` };
  for (const l of smtpBound) endpoints[l.kind === 'mx' ? 'smtp' : l.kind] = `${l.host}:${l.port}`;
  if (pop3Bound.plain) endpoints.pop3 = `${host}:${pop3Bound.plain.port}`;
  if (pop3Bound.implicitTls) endpoints.pop3s = `${host}:${pop3Bound.implicitTls.port}`;
  const gc = startBlobGc(store, blobs, logger);
  await writeFile(join(dataDir, 'endpoints.json'), `${JSON.stringify(endpoints, null, 2)}\n`);
  logger.info({ subsystem: 'node', event: 'up', endpoints }, 'node is up');
  return {
    endpoints,
    store,
    logger,
    stop: async () => {
      gc.stop();
      await smtp.stop();
      await pop3.close();
      await admin.close();
      await store.close();
    },
  };
}

/** Minutes between blob GC sweeps. */
export const blobGcIntervalMs = 10 * 60 * 1000;

/** Sweep unreferenced bodies now and then; one sweep at a time, errors logged, never fatal. */
function startBlobGc(store: Store, blobs: BlobStore, logger: Logger): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    collectGarbage(blobs, { isReferenced: async (id) => (await store.queries.blobRefs(id)) > 0, nowMs: () => Date.now() })
      .then((r) => {
        if (r.deleted > 0) logger.info({ subsystem: 'blob', event: 'gc', ...r }, 'unreferenced bodies collected');
      })
      .catch((err: unknown) => logger.error({ subsystem: 'blob', event: 'gcFailed', err }, 'blob GC sweep failed'))
      .finally(() => {
        running = false;
      });
  }, blobGcIntervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
