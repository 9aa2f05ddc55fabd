// What every command handler shares: the listener's runtime, per-connection state, and the backend-call discipline.
// Owns the translation of backend failures into replies (logged once, never echoed); no SMTP syntax here.

import type { SMTPServerSession } from 'smtp-server';
import type { AcceptedRecipient, ListenerKind, Principal, SmtpBackend, SmtpCallContext } from './backend.ts';
import type { AuthFailureTracker, ByteBudget, ConnectionCounter } from './admission.ts';
import type { ResolvedSmtpConfig } from './config.ts';
import { isSmtpBackendError, SmtpBackendError } from './errors.ts';
import type { ConnectFacts, MailFromFacts, SmtpPolicyHooks } from './hooks.ts';
import type { SmtpLogger } from './logger.ts';
import { formatReply, replies, replyText, SmtpReplyError, type SmtpReply } from './replies.ts';

export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = Object.freeze({ nowMs: () => Date.now() });

/** One per listener; the fields above `listener` are shared by all listeners of a front end. */
export interface ListenerRuntime {
  readonly config: ResolvedSmtpConfig;
  readonly backend: SmtpBackend;
  readonly hooks: SmtpPolicyHooks;
  readonly logger: SmtpLogger;
  readonly clock: Clock;
  readonly newId: () => string;
  readonly authFailures: AuthFailureTracker;
  readonly buffered: ByteBudget;
  /** Aborted by stop(): pending backend calls are told the front end no longer waits. */
  readonly shutdown: AbortSignal;
  readonly listener: ListenerKind;
  readonly connections: ConnectionCounter;
}

/** A mail transaction: from an accepted MAIL FROM to the reply after DATA (or RSET, or a new MAIL). */
export interface TransactionState {
  readonly tnx: string;
  readonly mailFrom: string;
  readonly declaredSizeBytes: number | null;
  /** Accepted recipients by lower-cased address, in acceptance order. */
  readonly recipients: Map<string, AcceptedRecipient>;
}

export interface ConnectionState {
  /** Counted in the listener's ConnectionCounter (released on close). */
  admitted: boolean;
  transactions: number;
  tx: TransactionState | null;
}

const states = new WeakMap<SMTPServerSession, ConnectionState>();

export function connectionState(session: SMTPServerSession): ConnectionState {
  let s = states.get(session);
  if (s === undefined) {
    s = { admitted: false, transactions: 0, tx: null };
    states.set(session, s);
  }
  return s;
}

/** smtp-server keeps whatever onAuth returned as `user` on the session: for us, a Principal. */
export function principalOf(session: SMTPServerSession): Principal | null {
  const u: unknown = session.user;
  if (typeof u !== 'object' || u === null) return null;
  const p = u as Partial<Principal>;
  return typeof p.accountId === 'string' && typeof p.username === 'string' ? (u as Principal) : null;
}

export function callContext(rt: ListenerRuntime, session: SMTPServerSession, tnx: string | undefined, signal?: AbortSignal): SmtpCallContext {
  return { listener: rt.listener, cid: session.id, tnx, remoteAddress: session.remoteAddress, signal: signal ?? rt.shutdown };
}

/** Reverse DNS name, or null: smtp-server writes `[ip]` when it has none. */
export function clientHostname(session: SMTPServerSession): string | null {
  const h = session.clientHostname;
  return typeof h === 'string' && h !== '' && !h.startsWith('[') ? h : null;
}

export function connectFacts(rt: ListenerRuntime, session: SMTPServerSession): ConnectFacts {
  return {
    listener: rt.listener,
    remoteAddress: session.remoteAddress,
    remotePort: session.remotePort,
    clientHostname: clientHostname(session),
    secure: session.secure,
  };
}

export function mailFromFacts(rt: ListenerRuntime, session: SMTPServerSession, tx: TransactionState): MailFromFacts {
  return {
    ...connectFacts(rt, session),
    helo: typeof session.hostNameAppearsAs === 'string' ? session.hostNameAppearsAs : '',
    mailFrom: tx.mailFrom,
    declaredSizeBytes: tx.declaredSizeBytes,
    bodyType: session.envelope.bodyType ?? '7bit',
    smtpUtf8: session.envelope.smtpUtf8 === true,
    principal: principalOf(session),
    tls: session.secure,
  };
}

/** Log fields every line about a session carries (STYLE vocabulary). */
export function logFields(rt: ListenerRuntime, session: SMTPServerSession, tnx?: string): Record<string, unknown> {
  const f: Record<string, unknown> = { subsystem: 'smtp', listener: rt.listener, cid: session.id, remoteAddress: session.remoteAddress };
  if (tnx !== undefined) f['tnx'] = tnx;
  return f;
}

/**
 * Runs one backend (or hook) call under a deadline. Past it the caller gets
 * UNAVAILABLE, which becomes a temporary failure; the call itself is told through its
 * signal and may still finish (whatever it does then is harmless: see SmtpBackend.deliver).
 */
export async function withDeadline<T>(rt: ListenerRuntime, ms: number, op: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onShutdown = (): void => controller.abort(rt.shutdown.reason);
  rt.shutdown.addEventListener('abort', onShutdown, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = new SmtpBackendError('UNAVAILABLE', `smtp: backend call exceeded ${ms} ms`);
      controller.abort(err);
      reject(err);
    }, ms);
  });
  const work = (async () => op(controller.signal))(); // a synchronous throw becomes a rejection
  // Past the deadline nobody awaits `work`; a late failure is only worth a debug line.
  work.catch((err: unknown) => {
    if (controller.signal.aborted) rt.logger.debug({ subsystem: 'smtp', listener: rt.listener, event: 'backend.late-failure', err }, 'late failure');
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    rt.shutdown.removeEventListener('abort', onShutdown);
  }
}

/**
 * The reply for a failed backend or hook call, logged here once: UNAVAILABLE and
 * STORAGE_FULL are operating conditions (warn), anything else is an internal error (error,
 * with its cause). Never the error's text: STYLE forbids echoing internals.
 */
export function failureReply(rt: ListenerRuntime, err: unknown, fields: Record<string, unknown>): SmtpReply {
  if (isSmtpBackendError(err, 'STORAGE_FULL')) {
    rt.logger.warn({ ...fields, event: 'backend.storage-full', err }, 'backend storage full');
    return replies.storageFull;
  }
  if (isSmtpBackendError(err, 'UNAVAILABLE')) {
    rt.logger.warn({ ...fields, event: 'backend.unavailable', err }, 'backend unavailable');
    return replies.localError;
  }
  rt.logger.error({ ...fields, event: 'internal-error', err }, 'internal error');
  return replies.localError;
}

type Callback = (err?: Error | null, message?: string) => void;

/**
 * Bridges an async handler to smtp-server's callback: null accepts with smtp-server's own
 * reply, a 2xx/3xx reply accepts with ours, a 4xx/5xx reply refuses. A rejection that
 * escaped the handler is an internal error (logged, 451 4.3.0).
 */
export function settle(rt: ListenerRuntime, fields: Record<string, unknown>, work: Promise<SmtpReply | null>, callback: Callback): void {
  const answer = (r: SmtpReply | null): void => {
    if (r === null) callback(null);
    else if (r.code < 400) callback(null, replyText(r));
    else callback(new SmtpReplyError(r));
  };
  work.then(answer, (err: unknown) => answer(failureReply(rt, err, fields)));
}

/** Logs a refusal we chose (info: an operating event, not an error) and returns its reply. */
export function refuse(rt: ListenerRuntime, fields: Record<string, unknown>, event: string, reply: SmtpReply, extra: Record<string, unknown> = {}): SmtpReply {
  rt.logger.info({ ...fields, ...extra, event, reply: formatReply(reply) }, event);
  return reply;
}
