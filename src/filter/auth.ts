// Sender authentication with mailauth: SPF, DKIM, DMARC and ARC in one pass, bounded by a deadline.
// Reduces mailauth's result to an AuthFinding and its Authentication-Results header; the policy decides what it means.

import { Readable } from 'node:stream';
import { authenticate } from 'mailauth';
import type { DnsResolver } from './dns.ts';
import { FilterError } from './errors.ts';
import type { AuthFinding } from './policy.ts';

export interface AuthInput {
  /** Streamed to mailauth: the message is not copied into one buffer. */
  readonly message: AsyncIterable<Uint8Array>;
  readonly ip: string;
  readonly helo: string;
  /** MAIL FROM, '' for the null sender. */
  readonly sender: string;
  /** Our host name: the authserv-id of Authentication-Results (RFC 8601 §2.5). */
  readonly authservId: string;
}

export interface AuthOutcome {
  readonly finding: AuthFinding;
  /** `Received-SPF:` and `Authentication-Results:` as mailauth writes them. */
  readonly headers: string;
}

/** Runs mailauth; past `timeoutMs` it rejects with FilterError('auth', 'TIMEOUT') and its pending queries fail fast. */
export async function checkAuth(dns: DnsResolver, input: AuthInput, timeoutMs: number, signal?: AbortSignal): Promise<AuthOutcome> {
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  const resolver = async (name: string, rrtype: string): Promise<string[] | string[][]> => {
    if (stop.signal.aborted) throw Object.assign(new Error('abandoned'), { code: 'ETIMEOUT' });
    return dns.resolve(name, rrtype);
  };
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      stop.abort();
      reject(new FilterError('auth', 'TIMEOUT', `SPF/DKIM/DMARC took over ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const work = authenticate(Readable.from(input.message, { objectMode: false }), {
    ip: input.ip,
    helo: input.helo,
    sender: input.sender,
    mta: input.authservId,
    resolver,
    disableBimi: true,
  });
  work.catch(() => {}); // after the deadline nobody awaits it
  try {
    const r = await Promise.race([work, deadline]);
    return { finding: reduce(r), headers: r.headers };
  } catch (e) {
    if (e instanceof FilterError) throw e;
    throw new FilterError('auth', 'UNAVAILABLE', 'authentication failed', { cause: e });
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

type MailauthResult = Awaited<ReturnType<typeof authenticate>>;

function reduce(r: MailauthResult): AuthFinding {
  const dkimResults = r.dkim?.results ?? [];
  const dkim = dkimResults.some((x) => x.status?.result === 'pass') ? 'pass' : (dkimResults[0]?.status?.result ?? 'none');
  const spf = r.spf === false ? 'none' : (r.spf.status?.result ?? 'none');
  const dmarc = r.dmarc === false ? 'none' : (r.dmarc.status?.result ?? 'none');
  const policy = r.dmarc === false ? null : r.dmarc.policy;
  const dmarcPolicy = dmarc === 'fail' && (policy === 'none' || policy === 'quarantine' || policy === 'reject') ? policy : null;
  const arc = r.arc === false ? 'none' : (r.arc.status?.result ?? 'none');
  const fromDomain = r.dmarc === false ? null : (r.dmarc.status?.header?.from ?? r.dmarc.domain ?? null);
  return { spf, dkim, dmarc, dmarcPolicy, arc, fromDomain: typeof fromDomain === 'string' ? fromDomain : null };
}
