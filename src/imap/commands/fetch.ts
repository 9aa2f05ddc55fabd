// FETCH and UID FETCH (RFC 9051 §6.4.5, RFC 3516 BINARY, RFC 7162 CHANGEDSINCE/VANISHED/MODSEQ, RFC 8474):
// data items per message in batches (large whole bodies streamed), BODY[...] sets \Seen unless PEEK or read-only; never EXPUNGE meanwhile.

import { MimeError, decodeBinarySection, extractSection } from '../../mime/index.ts';
import type { Uid } from '../../store/index.ts';
import { imapFetchBatchMessages, imapFetchFlushBytes } from '../limits.ts';
import type { MailboxView } from '../mailbox-view.ts';
import { bodyStructure, envelope } from '../proto/body-structure.ts';
import { fetch as parseFetch } from '../proto/commands.ts';
import { type Chunk, flagList, formatDateTime } from '../proto/encode.ts';
import { type FetchItem, type FetchModifiers, sectionLabel } from '../proto/fetch.ts';
import { normalizeRanges } from '../proto/sequence.ts';
import type { SequenceSet } from '../proto/sequence.ts';
import { type MessageData, emailId, loadRecords, threadId } from './message-data.ts';
import { type CommandSpec, type Completion, type Session, bad, no, ok } from './spec.ts';
import { requireView, resolveSet, storeFailure } from './util.ts';

interface FetchArgs {
  readonly set: SequenceSet;
  readonly items: FetchItem[];
  readonly modifiers: FetchModifiers;
}

class UnknownCte extends Error {}

function literal(bytes: Uint8Array, binary: boolean): Chunk[] {
  return [`${binary && bytes.includes(0) ? '~' : ''}{${bytes.length}}\r\n`, bytes];
}

function partial(bytes: Uint8Array, p: readonly [number, number] | null): Uint8Array {
  return p === null ? bytes : bytes.subarray(Math.min(p[0], bytes.length), Math.min(p[0] + p[1], bytes.length));
}

async function itemChunks(s: Session, m: MessageData, it: FetchItem): Promise<Chunk[]> {
  const o = s.encodeOptions;
  switch (it.k) {
    case 'simple':
      switch (it.name) {
        case 'FLAGS':
          return [`FLAGS ${flagList(m.record.flags)}`];
        case 'UID':
          return [`UID ${m.uid}`];
        case 'INTERNALDATE':
          return [`INTERNALDATE ${formatDateTime(m.record.internalDate)}`];
        case 'RFC822.SIZE':
          return [`RFC822.SIZE ${m.record.size}`];
        case 'MODSEQ':
          return [`MODSEQ (${m.record.modSeq})`];
        case 'EMAILID':
          return [`EMAILID (${emailId(m.record.blobId)})`];
        case 'THREADID':
          return [`THREADID (${threadId(await m.summary(), m.record.blobId)})`];
        case 'ENVELOPE':
          return ['ENVELOPE ', ...envelope((await m.summary()).envelope, o)];
        case 'BODY':
          return ['BODY ', ...bodyStructure((await m.summary()).body, false, o)];
        case 'BODYSTRUCTURE':
          return ['BODYSTRUCTURE ', ...bodyStructure((await m.summary()).body, true, o)];
      }
      break;
    case 'section': {
      const sec = it.section;
      const bytes = extractSection(await m.body(), await m.summary(), { part: [...sec.part], kind: sec.kind, fields: [...sec.fields] });
      const label = it.label ?? `BODY${sectionLabel(sec)}${it.partial ? `<${it.partial[0]}>` : ''}`;
      return [`${label} `, ...literal(partial(bytes, it.partial), false)];
    }
    case 'binary': {
      const bytes = binary(await m.body(), await m.summary(), it.part);
      return [`BINARY[${it.part.join('.')}]${it.partial ? `<${it.partial[0]}>` : ''} `, ...literal(partial(bytes, it.partial), true)];
    }
    case 'binarySize':
      return [`BINARY.SIZE[${it.part.join('.')}] ${binary(await m.body(), await m.summary(), it.part).length}`];
  }
  return [];
}

function binary(body: Uint8Array, summary: Parameters<typeof decodeBinarySection>[1], part: readonly number[]): Uint8Array {
  try {
    return decodeBinarySection(body, summary, [...part]);
  } catch (e) {
    if (e instanceof MimeError && e.code === 'UNKNOWN_CTE') throw new UnknownCte(e.message);
    throw e;
  }
}

/** The items to send: UID first for UID FETCH, MODSEQ with CHANGEDSINCE or with FLAGS under CONDSTORE. */
function effectiveItems(s: Session, a: FetchArgs, uid: boolean): FetchItem[] {
  const items = [...a.items];
  const has = (n: string): boolean => items.some((i) => i.k === 'simple' && i.name === n);
  if (uid && !has('UID')) items.unshift({ k: 'simple', name: 'UID' });
  if ((a.modifiers.changedSince !== null || (s.viewOptions.condstore && has('FLAGS'))) && !has('MODSEQ')) items.push({ k: 'simple', name: 'MODSEQ' });
  return items;
}

/** \Seen for messages read with BODY[...] (not PEEK) in a read-write session (RFC 9051 §6.4.5). */
async function markSeen(s: Session, v: MailboxView, batch: MessageData[]): Promise<Set<Uid>> {
  const unseen = batch.filter((m) => !m.record.flags.includes('\\Seen')).map((m) => m.uid);
  if (unseen.length === 0) return new Set();
  const res = await s.store.execute<{ changed: { uid: Uid; flags: string[]; modSeq: bigint }[] }>({
    type: 'setFlags', accountId: v.accountId, folderId: v.folderId, uids: unseen, op: 'add', flags: ['\\Seen'], unchangedSince: null,
  });
  const byUid = new Map(res.changed.map((c) => [c.uid, c]));
  for (let i = 0; i < batch.length; i++) {
    const m = batch[i]!;
    const c = byUid.get(m.uid);
    if (!c) continue;
    v.noteFlags(m.uid, c.flags, c.modSeq);
    m.record = { ...m.record, flags: c.flags, modSeq: c.modSeq as never };
  }
  return new Set(byUid.keys());
}

/**
 * A message another session expunged that this session still numbers (its EXPUNGE is held back, RFC 9051
 * §7.5.1): what the view knows (UID, last flags, MODSEQ), so the client can still map the number to its UID.
 */
function goneMessage(v: MailboxView, uid: Uid, items: readonly FetchItem[], condstore: boolean): Chunk[] {
  const seq = v.seqOf(uid);
  if (seq === 0) return [];
  const parts = [`UID ${uid}`];
  if (items.some((i) => i.k === 'simple' && i.name === 'FLAGS')) parts.push(`FLAGS ${flagList(v.flags.get(uid) ?? [])}`);
  if (condstore && items.some((i) => i.k === 'simple' && i.name === 'MODSEQ')) parts.push(`MODSEQ (${v.modSeqs.get(uid) ?? 0n})`);
  return [`* ${seq} FETCH (${parts.join(' ')})\r\n`];
}

async function vanished(s: Session, v: MailboxView, set: SequenceSet): Promise<void> {
  if (set.kind !== 'ranges') return;
  const gone = v.missingIn(normalizeRanges(set, v.lastUid));
  if (gone !== '') await s.send(`* VANISHED (EARLIER) ${gone}\r\n`);
}

/** FETCH output: buffered up to imapFetchFlushBytes, large whole bodies streamed from the blob store. */
class FetchWriter {
  private out: Chunk[] = [];
  private bytes = 0;
  private readonly s: Session;

  constructor(s: Session) {
    this.s = s;
  }

  push(...chunks: Chunk[]): void {
    for (const c of chunks) {
      this.out.push(c);
      this.bytes += c.length;
    }
  }

  async flush(force = true): Promise<void> {
    if (!force && this.bytes < imapFetchFlushBytes) return;
    const out = this.out;
    this.out = [];
    this.bytes = 0;
    if (out.length > 0) await this.s.send(out);
  }

  /**
   * BODY[] / RFC822 of a large message as a literal streamed from the blob store, without holding it.
   * False when the blob failed mid-literal: the literal cannot be finished, so the connection is dropped.
   */
  async streamWhole(m: MessageData, it: Extract<FetchItem, { k: 'section' }>): Promise<boolean> {
    const size = m.record.size;
    const [from, to] = it.partial === null ? [0, size] : [Math.min(it.partial[0], size), Math.min(it.partial[0] + it.partial[1], size)];
    const label = it.label ?? `BODY[]${it.partial ? `<${it.partial[0]}>` : ''}`;
    this.push(`${label} {${to - from}}\r\n`);
    await this.flush();
    let sent = 0;
    try {
      for await (const chunk of this.s.blobs.stream(m.record.blobId, { start: from, end: to })) {
        sent += chunk.length;
        await this.s.send([chunk]);
      }
    } catch (e) {
      this.s.log.error({ event: 'body-stream-failed', uid: m.uid, sent, err: e instanceof Error ? e.message : String(e) }, 'reading a body failed mid-literal: closing');
      this.s.abort();
      return false;
    }
    if (sent === to - from) return true;
    this.s.log.error({ event: 'body-size-mismatch', uid: m.uid, sent, expected: to - from }, 'stored body differs from its recorded size: closing');
    this.s.abort();
    return false;
  }
}

/** A whole-message section big enough to stream rather than read into memory. */
function streamable(it: FetchItem, m: MessageData): it is Extract<FetchItem, { k: 'section' }> {
  return it.k === 'section' && it.section.part.length === 0 && it.section.kind === '' && m.record.size > imapFetchFlushBytes;
}

interface MessageContext {
  readonly v: MailboxView;
  readonly items: readonly FetchItem[];
  readonly flagsAsked: boolean;
  readonly seenNow: ReadonlySet<Uid>;
}

/** One `* n FETCH (...)` response; false when the connection had to be dropped. */
async function writeMessage(s: Session, w: FetchWriter, m: MessageData, cx: MessageContext): Promise<boolean> {
  const seq = cx.v.seqOf(m.uid);
  if (seq === 0) return true;
  w.push(`* ${seq} FETCH (`);
  for (let k = 0; k < cx.items.length; k++) {
    if (k > 0) w.push(' ');
    const it = cx.items[k]!;
    if (streamable(it, m)) {
      if (!(await w.streamWhole(m, it))) return false;
    } else w.push(...(await itemChunks(s, m, it)));
  }
  // RFC 9051 §6.4.5: a \Seen set implicitly is told in the same FETCH response.
  if (cx.seenNow.has(m.uid) && !cx.flagsAsked) w.push(` FLAGS ${flagList(m.record.flags)}`);
  w.push(')\r\n');
  if (cx.flagsAsked || cx.seenNow.has(m.uid)) cx.v.noteFlags(m.uid, m.record.flags, m.record.modSeq);
  m.releaseBody();
  await w.flush(false);
  return true;
}

async function run(s: Session, a: FetchArgs, uid: boolean): Promise<Completion | null> {
  const v = requireView(s);
  const resolved = resolveSet(v, a.set, uid);
  if ('error' in resolved) return resolved.error;
  if (a.modifiers.vanished && (!uid || !s.enabled.has('QRESYNC'))) return bad('VANISHED needs UID FETCH with QRESYNC enabled');
  if (a.modifiers.changedSince !== null || a.items.some((i) => i.k === 'simple' && i.name === 'MODSEQ')) s.enableCondstore();
  const since = a.modifiers.changedSince;
  const uids = since === null ? resolved.uids : resolved.uids.filter((u) => (v.modSeqs.get(u) ?? 0n) > since);
  if (a.modifiers.vanished) await vanished(s, v, a.set);
  const marksSeen = !v.readOnly && a.items.some((i) => (i.k === 'section' || i.k === 'binary') && !i.peek);
  const items = effectiveItems(s, a, uid);
  const flagsAsked = items.some((x) => x.k === 'simple' && x.name === 'FLAGS');
  const needsSummary = items.some((x) => x.k !== 'simple' || ['ENVELOPE', 'BODY', 'BODYSTRUCTURE', 'THREADID'].includes(x.name));
  const w = new FetchWriter(s);
  let missing = 0;
  for (let i = 0; i < uids.length && s.open; i += imapFetchBatchMessages) {
    const wanted = uids.slice(i, i + imapFetchBatchMessages);
    const batch = await loadRecords(s, v, wanted, { summaries: needsSummary });
    missing += wanted.length - batch.length;
    let seenNow = new Set<Uid>();
    if (marksSeen) {
      try {
        seenNow = await markSeen(s, v, batch);
      } catch (e) {
        return storeFailure(s, e, 'FETCH');
      }
    }
    const found = new Set(batch.map((m) => m.uid));
    for (const u of wanted) if (!found.has(u)) w.push(...goneMessage(v, u, items, s.viewOptions.condstore));
    for (const m of batch) {
      try {
        if (!(await writeMessage(s, w, m, { v, items, flagsAsked, seenNow }))) return null;
      } catch (e) {
        if (e instanceof UnknownCte) return no('Unknown Content-Transfer-Encoding', 'UNKNOWN-CTE');
        throw e;
      }
    }
    await w.flush();
  }
  // RFC 5530: messages another session expunged are told by UID only; the client learns why at the next NOOP.
  return missing > 0 ? ok('Some messages were expunged meanwhile', 'EXPUNGEISSUED') : ok('FETCH completed');
}

export const fetch: CommandSpec<FetchArgs> = {
  rfc: 'RFC 9051 §6.4.5',
  states: ['selected'],
  uidForm: true,
  holdsExpunge: true,
  parse: parseFetch,
  handle: (s, a, call) => run(s, a, call.uid),
};
