// JunkLearner: teaches the spam engine when a user moves a message into Junk (spam) or out of it (ham).
// Called by the IMAP server after the move is committed; a learning failure is reported, never blocks the move.

import type { FilterConfig } from './config.ts';
import { FilterError } from './errors.ts';
import { RspamdClient } from './rspamd.ts';
import { SpamdClient } from './spamd.ts';

export interface JunkLearner {
  /**
   * Learns `message` (the stored bytes) as spam or ham. Resolves true when the engine's
   * database changed, false when it already knew this message. Rejects with FilterError
   * (UNAVAILABLE, TIMEOUT, PROTOCOL, CONFIG) when the engine cannot learn now; the caller
   * logs it and carries on (the move itself has already happened).
   */
  learn(message: Uint8Array, as: 'spam' | 'ham', signal?: AbortSignal): Promise<boolean>;
}

/** spamd (TELL, needs `spamd --allow-tell`) or rspamd (controller /learnspam, /learnham); null when no engine is configured. */
export function createJunkLearner(config: FilterConfig): JunkLearner | null {
  const s = config.spam;
  if (s.engine === 'spamd' && s.spamd) {
    const c = new SpamdClient({ host: s.spamd.host, port: s.spamd.port, timeoutMs: s.timeoutMs });
    return { learn: (m, as, signal) => c.learn(m, as, signal) };
  }
  if (s.engine === 'rspamd' && s.rspamd) {
    if (s.rspamd.password === undefined) {
      return { learn: async () => Promise.reject(new FilterError('rspamd', 'CONFIG', 'learning needs spam.rspamd.password (the controller password)')) };
    }
    const c = new RspamdClient({ ...s.rspamd, timeoutMs: s.timeoutMs });
    return { learn: (m, as, signal) => c.learn(m, as, signal) };
  }
  return null;
}
