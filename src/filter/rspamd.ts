// rspamd's HTTP API: /checkv2 on the normal worker to score a message, /learnspam and /learnham on the controller.
// A client only: each request bounded by its timeout, failures translated to FilterError; it decides nothing.

import { FilterError } from './errors.ts';
import { filterLimits } from './limits.ts';

export interface RspamdOptions {
  readonly host: string;
  readonly port: number;
  readonly controllerPort: number;
  readonly password?: string | undefined;
  readonly timeoutMs: number;
}

/** What rspamd is told about the transaction, as its HTTP request headers (rspamd protocol docs). */
export interface RspamdEnvelope {
  readonly ip?: string | undefined;
  readonly helo?: string | undefined;
  readonly from?: string | undefined;
  readonly rcpt?: readonly string[] | undefined;
  readonly queueId?: string | undefined;
  readonly user?: string | undefined;
}

export interface RspamdScore {
  readonly score: number;
  readonly required: number;
  readonly action: string;
  readonly rules: readonly string[];
}

const headerValue = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?');

export class RspamdClient {
  private readonly o: RspamdOptions;

  constructor(o: RspamdOptions) {
    this.o = o;
  }

  private async post(port: number, path: string, body: Uint8Array, headers: Record<string, string>, signal?: AbortSignal): Promise<{ status: number; json: unknown }> {
    const timeout = AbortSignal.timeout(this.o.timeoutMs);
    const all = signal === undefined ? timeout : AbortSignal.any([timeout, signal]);
    let res: Response;
    try {
      res = await fetch(`http://${this.o.host}:${port}${path}`, { method: 'POST', body, headers, signal: all });
      const text = await res.text();
      if (text.length > filterLimits.scannerReplyBytesMax) throw new FilterError('rspamd', 'PROTOCOL', 'reply too long');
      return { status: res.status, json: text === '' ? null : JSON.parse(text) };
    } catch (e) {
      if (e instanceof FilterError) throw e;
      if (timeout.aborted) throw new FilterError('rspamd', 'TIMEOUT', `no answer within ${this.o.timeoutMs} ms`, { cause: e });
      if (signal?.aborted) throw new FilterError('rspamd', 'TIMEOUT', 'abandoned by the caller', { cause: e });
      if (e instanceof SyntaxError) throw new FilterError('rspamd', 'PROTOCOL', 'reply is not JSON', { cause: e });
      throw new FilterError('rspamd', 'UNAVAILABLE', 'request failed', { cause: e });
    }
  }

  async check(message: Uint8Array, env: RspamdEnvelope, signal?: AbortSignal): Promise<RspamdScore> {
    const h: Record<string, string> = {};
    if (env.ip) h['IP'] = headerValue(env.ip);
    if (env.helo) h['Helo'] = headerValue(env.helo);
    if (env.from !== undefined) h['From'] = headerValue(env.from);
    if (env.queueId) h['Queue-Id'] = headerValue(env.queueId);
    if (env.user) h['User'] = headerValue(env.user);
    if (env.rcpt && env.rcpt.length > 0) h['Rcpt'] = headerValue(env.rcpt.join(','));
    const { status, json } = await this.post(this.o.port, '/checkv2', message, h, signal);
    if (status !== 200) throw new FilterError('rspamd', 'PROTOCOL', `checkv2 answered HTTP ${status}`);
    const r = json as { score?: unknown; required_score?: unknown; action?: unknown; symbols?: unknown };
    if (typeof r?.score !== 'number') throw new FilterError('rspamd', 'PROTOCOL', 'checkv2 reply without a score');
    const symbols = typeof r.symbols === 'object' && r.symbols !== null ? Object.keys(r.symbols) : [];
    return { score: r.score, required: typeof r.required_score === 'number' ? r.required_score : 0, action: typeof r.action === 'string' ? r.action : '', rules: symbols };
  }

  /** Learns through the controller. Resolves true when learned, false when rspamd already knew this message. */
  async learn(message: Uint8Array, as: 'spam' | 'ham', signal?: AbortSignal): Promise<boolean> {
    const h: Record<string, string> = {};
    if (this.o.password !== undefined) h['Password'] = this.o.password;
    const { status, json } = await this.post(this.o.controllerPort, as === 'spam' ? '/learnspam' : '/learnham', message, h, signal);
    const r = json as { success?: unknown; error?: unknown } | null;
    if (status === 200 && r?.success === true) return true;
    // An empty 204: rspamd had no Bayes backend to learn into (a misconfiguration, not "already known").
    if (status === 204) throw new FilterError('rspamd', 'CONFIG', 'learn answered 204: no Bayes backend (statistic.conf)');
    const error = typeof r?.error === 'string' ? r.error : `HTTP ${status}`;
    if (/already learned/i.test(error)) return false;
    throw new FilterError('rspamd', status === 403 || status === 401 ? 'CONFIG' : 'PROTOCOL', `learn refused: ${error.slice(0, 200)}`);
  }
}
