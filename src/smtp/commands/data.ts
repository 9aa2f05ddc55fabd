// DATA: receives the message within its limits, prepends Return-Path and Received, asks the policy, delivers, answers.
// Answers 250 only after the backend says the message is durable; never replies before the final dot is read.

import type { SMTPServerDataStream, SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { AcceptedRecipient, DeliveryRequest, DeliveryResult } from '../backend.ts';
import type { DataVerdict } from '../hooks.ts';
import { isSmtpBackendError } from '../errors.ts';
import { DataNormalizer } from '../message-data.ts';
import { traceHeaders } from '../received.ts';
import { deliveredReply, formatReply, replies, type SmtpReply } from '../replies.ts';
import {
  callContext,
  clientHostname,
  connectionState,
  failureReply,
  logFields,
  mailFromFacts,
  principalOf,
  settle,
  withDeadline,
  type ListenerRuntime,
  type TransactionState,
} from '../runtime.ts';

export function onData(rt: ListenerRuntime): NonNullable<SMTPServerOptions['onData']> {
  return (stream, session, callback) => {
    const tx = connectionState(session).tx;
    const reception = new Reception(rt, stream);
    stream.on('data', (chunk: Buffer) => reception.push(chunk));
    // The client went away mid-message: smtp-server destroys the stream; nothing to answer.
    stream.once('error', () => reception.discard());
    stream.once('end', () => {
      const work = finish(rt, session, tx, reception).finally(() => reception.discard());
      settle(rt, logFields(rt, session, tx?.tnx), work, callback);
    });
  };
}

/**
 * The message as it arrives, held in memory within the front end's byte budget. Once the
 * message is certain to be refused (too big, budget spent) it keeps draining the stream
 * (SMTP cannot interrupt DATA) but holds nothing more.
 */
class Reception {
  readonly chunks: Uint8Array[] = [];
  readonly normalizer = new DataNormalizer();
  overBudget = false;
  private reservedBytes = 0;
  private readonly rt: ListenerRuntime;
  private readonly stream: SMTPServerDataStream;

  constructor(rt: ListenerRuntime, stream: SMTPServerDataStream) {
    this.rt = rt;
    this.stream = stream;
  }

  get tooBig(): boolean {
    return this.stream.sizeExceeded;
  }

  push(chunk: Uint8Array): void {
    if (this.tooBig || this.overBudget) {
      this.discard();
      return;
    }
    const out = this.normalizer.push(chunk);
    if (!this.rt.buffered.tryReserve(out.length)) {
      this.overBudget = true;
      this.discard();
      return;
    }
    this.reservedBytes += out.length;
    this.chunks.push(out);
  }

  discard(): void {
    this.chunks.length = 0;
    this.rt.buffered.release(this.reservedBytes);
    this.reservedBytes = 0;
  }
}

async function finish(rt: ListenerRuntime, session: SMTPServerSession, tx: TransactionState | null, reception: Reception): Promise<SmtpReply> {
  // smtp-server answers 503 to DATA without accepted recipients, so a transaction exists.
  if (tx === null) throw new Error('smtp: DATA without a transaction');
  const recipients = acceptedRecipients(session, tx);
  const id = rt.newId();
  const fields: Record<string, unknown> = {
    ...logFields(rt, session, tx.tnx),
    id,
    mailFrom: tx.mailFrom,
    recipients: recipients.map((r) => r.address),
    receivedBytes: reception.normalizer.outputBytes,
  };
  const early = receptionRefusal(rt, reception);
  if (early !== null) return logOutcome(rt, fields, early);

  const receivedAtMs = rt.clock.nowMs();
  if (reception.normalizer.bareLfCount > 0) fields['bareLf'] = reception.normalizer.bareLfCount;
  const traceText = traceHeaders(traceInfo(rt, session, tx, recipients, receivedAtMs));
  const chunks: readonly Uint8Array[] = [Buffer.from(traceText, 'utf8'), ...reception.chunks];
  const message = replayable(chunks);
  const sizeBytes = chunks.reduce((n, c) => n + c.length, 0);
  try {
    const verdict = await policy(rt, session, tx, { recipients, id, message, sizeBytes });
    if (verdict.record !== undefined) fields['filter'] = verdict.record;
    if (verdict.action === 'reject') return logOutcome(rt, { ...fields, by: 'policy' }, verdict.reply);
    const disposition = verdict.disposition;
    const stored = verdict.prependHeaders === undefined ? chunks : withPolicyHeaders(traceText, verdict.prependHeaders, reception.chunks);
    const storedBytes = stored.reduce((n, c) => n + c.length, 0);
    const request: DeliveryRequest = {
      id,
      mailFrom: tx.mailFrom,
      recipients,
      body: replayable(stored),
      sizeBytes: storedBytes,
      receivedAtMs,
      principal: principalOf(session),
      disposition,
      ...(verdict.recipientDispositions !== undefined ? { recipientDispositions: verdict.recipientDispositions } : {}),
      ...(verdict.record !== undefined ? { filter: verdict.record } : {}),
      enforceQuota: true,
    };
    const delivered = await deliverWithinQuota(rt, session, tx, request, fields);
    if ('code' in delivered) return logOutcome(rt, fields, delivered);
    return logOutcome(rt, { ...fields, sizeBytes: storedBytes, disposition, stored: delivered.storedId }, deliveredReply(id));
  } catch (err) {
    return logOutcome(rt, fields, failureReply(rt, err, fields));
  }
}

function receptionRefusal(rt: ListenerRuntime, reception: Reception): SmtpReply | null {
  if (reception.tooBig) return replies.messageTooBig;
  if (reception.overBudget) return replies.storageFull;
  if (reception.normalizer.longestLineBytes > rt.config.limits.dataLineBytesMax) return replies.dataLineTooLong;
  return null;
}

/** smtp-server's accepted list, in its order, joined with what rcpt-to.ts resolved for each. */
function acceptedRecipients(session: SMTPServerSession, tx: TransactionState): AcceptedRecipient[] {
  return session.envelope.rcptTo.map((a) => {
    const r = tx.recipients.get(a.address.toLowerCase());
    if (r === undefined) throw new Error(`smtp: recipient ${a.address} accepted by smtp-server but not resolved`);
    return r;
  });
}

function traceInfo(rt: ListenerRuntime, session: SMTPServerSession, tx: TransactionState, recipients: readonly AcceptedRecipient[], dateMs: number) {
  const cipher = session.tlsOptions;
  return {
    mailFrom: tx.mailFrom,
    helo: typeof session.hostNameAppearsAs === 'string' ? session.hostNameAppearsAs : '',
    clientHostname: clientHostname(session),
    remoteAddress: session.remoteAddress,
    tls: cipher === false ? null : { version: cipher.version, cipher: cipher.name },
    byHostname: rt.config.hostname,
    protocol: session.transmissionType,
    tnx: tx.tnx,
    recipients: recipients.map((r) => r.address),
    dateMs,
  };
}

/** Complete header fields, each CRLF-terminated, folded lines starting with a space or tab (RFC 5322 §2.2). */
const headerFields = /^(?:[!-9;-~]+:[^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)*$/;

/** The policy's header fields after our Return-Path and above our Received (RFC 8601 §5). */
function withPolicyHeaders(traceText: string, headers: string, data: readonly Uint8Array[]): Uint8Array[] {
  if (!headerFields.test(headers)) throw new Error('smtp: policy prependHeaders is not a block of CRLF-terminated header fields');
  const afterReturnPath = traceText.indexOf('\r\n') + 2;
  return [Buffer.from(traceText.slice(0, afterReturnPath) + headers + traceText.slice(afterReturnPath), 'utf8'), ...data];
}

function replayable(chunks: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  return {
    async *[Symbol.asyncIterator]() {
      yield* chunks;
    },
  };
}

/** The washer's verdict (no hook: INBOX), or the refusal it chose. */
async function policy(
  rt: ListenerRuntime,
  session: SMTPServerSession,
  tx: TransactionState,
  m: { recipients: readonly AcceptedRecipient[]; id: string; message: AsyncIterable<Uint8Array>; sizeBytes: number },
): Promise<DataVerdict> {
  const hook = rt.hooks.onData;
  if (hook === undefined) return { action: 'accept', disposition: 'inbox' };
  const facts = { ...mailFromFacts(rt, session, tx), ...m };
  return withDeadline(rt, rt.config.limits.backendCallTimeoutMs, (signal) => hook(facts, callContext(rt, session, tx.tnx, signal)));
}

/**
 * SMTP has one reply for DATA, for all recipients (LMTP, RFC 2033, has one per recipient;
 * SMTP does not). So when the message does not fit in some recipients' quota:
 * - every recipient's account is over: 552 5.2.2, true for the whole message;
 * - only some are: refusing would take the message from the others too (a 4xx delays them
 *   all, for days if the mailbox stays full), and accepting while dropping the full ones
 *   is the silent loss RFC 5321 §6.1 forbids. So it is stored for all, the full accounts
 *   going over quota by this one message (as Dovecot's quota_grace allows), and those are
 *   refused at RCPT time from then on. Once outbound delivery exists, accept and send a
 *   DSN for the full ones instead, as Postfix in front of LMTP does.
 */
async function deliverWithinQuota(
  rt: ListenerRuntime,
  session: SMTPServerSession,
  tx: TransactionState,
  request: DeliveryRequest,
  fields: Record<string, unknown>,
): Promise<DeliveryResult | SmtpReply> {
  const deliver = (r: DeliveryRequest): Promise<DeliveryResult> =>
    withDeadline(rt, rt.config.limits.deliverTimeoutMs, (signal) => rt.backend.deliver(r, callContext(rt, session, tx.tnx, signal)));
  try {
    return await deliver(request);
  } catch (err) {
    if (!isSmtpBackendError(err, 'QUOTA_EXCEEDED')) throw err;
    const over = new Set(err.overQuota);
    const all = new Set(request.recipients.flatMap((r) => r.accountIds));
    if ([...all].every((a) => over.has(a))) return replies.mailboxFull;
    rt.logger.warn({ ...fields, event: 'quota.grace', overQuota: [...over] }, 'storing past quota for some recipients');
    return await deliver({ ...request, enforceQuota: false });
  }
}

/** Every accepted or refused message is logged once, here, with its id, cid and tnx. */
function logOutcome(rt: ListenerRuntime, fields: Record<string, unknown>, reply: SmtpReply): SmtpReply {
  const event = reply.code < 400 ? 'message.accepted' : 'message.refused';
  rt.logger.info({ ...fields, event, reply: formatReply(reply) }, event);
  return reply;
}
