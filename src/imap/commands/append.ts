// APPEND with MULTIAPPEND (RFC 9051 §6.3.12, RFC 3502, RFC 4315 APPENDUID, RFC 7889 APPENDLIMIT): each
// message becomes a durable blob with its MIME summary, then a store append. All or nothing.

import { BlobError } from '../../blob/index.ts';
import { encodeSummary, summarize } from '../../mime/index.ts';
import { type AppendResult, type Uid, storeLimits } from '../../store/index.ts';
import { type AppendMessage, append as parseAppend } from '../proto/commands.ts';
import { formatOrdered } from '../proto/sequence.ts';
import { type CommandSpec, type Completion, type Session, bad, no, ok } from './spec.ts';
import { folderNamed, storeFailure } from './util.ts';

/** The summary kept with the message, unless it would not fit the store's extras limit (then FETCH computes it). */
export function summaryExtras(bytes: Uint8Array): { summary: Uint8Array } | undefined {
  const summary = encodeSummary(summarize(bytes));
  return summary.length <= storeLimits.messageExtrasBytesMax - 1024 ? { summary } : undefined;
}

async function appendOne(s: Session, folder: string, m: AppendMessage): Promise<AppendResult> {
  const { id: blobId } = await s.blobs.put(m.bytes, { pin: true });
  try {
    const extras = summaryExtras(m.bytes);
    const flags = m.flags.filter((f) => f.toLowerCase() !== '\\recent');
    return await s.store.execute<AppendResult>({
      type: 'append', accountId: s.account!.id, folder, blobId, size: m.bytes.length,
      internalDate: m.date ?? Date.now(), flags, ...(extras ? { extras } : {}),
    });
  } finally {
    s.blobs.unpin(blobId);
  }
}

async function undo(s: Session, done: AppendResult[]): Promise<void> {
  const first = done[0];
  if (!first) return;
  try {
    await s.store.execute({ type: 'remove', accountId: s.account!.id, folderId: first.folderId, uids: done.map((d) => d.uid) });
  } catch (e) {
    s.log.error({ event: 'multiappend-undo-failed', err: e instanceof Error ? e.message : String(e) }, 'could not undo a partial MULTIAPPEND');
  }
}

export const append: CommandSpec<{ mailbox: string; messages: AppendMessage[] }> = {
  rfc: 'RFC 9051 §6.3.12, RFC 3502',
  states: ['authenticated', 'selected'],
  parse: parseAppend,
  async handle(s, a): Promise<Completion> {
    for (const m of a.messages) {
      if (m.bytes.length > s.config.appendLimitBytes) return no('Message too large', 'TOOBIG');
      if (m.bytes.length === 0) return bad('Empty message');
      if (m.flags.some((f) => f === '\\*')) return bad('\\* is not a flag');
    }
    const folder = await folderNamed(s, a.mailbox);
    if (!folder) return no('No such mailbox', 'TRYCREATE');
    const done: AppendResult[] = [];
    for (const m of a.messages) {
      try {
        done.push(await appendOne(s, folder.name, m));
      } catch (e) {
        await undo(s, done);
        if (e instanceof BlobError && e.code === 'STORAGE_FULL') return no('The server has no room for the message now', 'LIMIT');
        return storeFailure(s, e, 'APPEND');
      }
    }
    const uids: Uid[] = done.map((d) => d.uid);
    return ok('APPEND completed', `APPENDUID ${done[0]!.uidValidity} ${formatOrdered(uids)}`);
  },
};
