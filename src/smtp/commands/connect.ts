// Connection-level handlers: admission at connect (per-address limit, policy hook), TLS established, close.
// Never reads mail or credentials; the greeting itself is smtp-server's.

import type { SMTPServerOptions, SMTPServerSession } from 'smtp-server';
import type { ListenerKind } from '../backend.ts';
import { replies, type SmtpReply } from '../replies.ts';
import { callContext, connectFacts, connectionState, failureReply, logFields, refuse, settle, withDeadline, type ListenerRuntime } from '../runtime.ts';

/**
 * Commands no listener offers: XCLIENT/XFORWARD (we trust only PROXY headers), sendmail's
 * WIZ/SHELL/KILL jokes, and AUTH on the MX (RFC 6409: authentication belongs to
 * submission). STARTTLS is off when no certificate is configured: never smtp-server's
 * built-in one, whose private key is public.
 */
export function listenerDisabledCommands(kind: ListenerKind, hasTls: boolean): string[] {
  const off = ['XCLIENT', 'XFORWARD', 'WIZ', 'SHELL', 'KILL'];
  if (kind === 'mx') off.push('AUTH');
  if (!hasTls || kind === 'submissions') off.push('STARTTLS');
  return off;
}

export function onConnect(rt: ListenerRuntime): NonNullable<SMTPServerOptions['onConnect']> {
  return (session, callback) => {
    const fields = logFields(rt, session);
    // A failure here must close the session, so its reply is a 421 (RFC 5321 §3.1, §3.8).
    const work = admit(rt, session).catch((err: unknown) => {
      failureReply(rt, err, fields);
      return replies.serviceUnavailable;
    });
    settle(rt, fields, work, callback);
  };
}

async function admit(rt: ListenerRuntime, session: SMTPServerSession): Promise<SmtpReply | null> {
  const fields = logFields(rt, session);
  if (!rt.connections.tryAcquire(session.remoteAddress, rt.config.limits.connectionsPerIpMax)) {
    return refuse(rt, fields, 'connect.refused', replies.tooManyConnectionsFromIp);
  }
  connectionState(session).admitted = true;
  if (rt.listener === 'submission' && !session.secure) {
    // Postfix smtpd_tls_auth_only: AUTH is not even advertised before STARTTLS, so a client
    // never sends a password in clear because it saw the offer (connection.ts answers 530).
    session.disabledCommands = [...listenerDisabledCommands(rt.listener, true), 'AUTH'];
  }
  const hook = rt.hooks.onConnect;
  if (hook !== undefined) {
    const verdict = await withDeadline(rt, rt.config.limits.backendCallTimeoutMs, (signal) =>
      hook(connectFacts(rt, session), callContext(rt, session, undefined, signal)),
    );
    if (verdict.action === 'reject') return refuse(rt, fields, 'connect.refused', verdict.reply, { by: 'policy' });
  }
  rt.logger.info({ ...fields, event: 'connect', remotePort: session.remotePort }, 'connect');
  return null;
}

export function onSecure(rt: ListenerRuntime): NonNullable<SMTPServerOptions['onSecure']> {
  return (socket, session, callback) => {
    session.disabledCommands = undefined; // back to the listener's list: AUTH is on now
    const cipher = 'getCipher' in socket ? socket.getCipher() : null;
    rt.logger.debug({ ...logFields(rt, session), event: 'tls', cipher: cipher?.name, version: cipher?.version }, 'tls');
    callback();
  };
}

export function onClose(rt: ListenerRuntime): NonNullable<SMTPServerOptions['onClose']> {
  return (session) => {
    const state = connectionState(session);
    if (state.admitted) {
      state.admitted = false;
      rt.connections.release(session.remoteAddress);
    }
    rt.logger.debug({ ...logFields(rt, session), event: 'close' }, 'close');
  };
}
