// THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 §3) over per-message inputs from the summaries.
// Pure: no store access; ids are whatever the caller numbers messages with (sequence numbers or UIDs).

import { MimeError } from './errors.ts';
import { mimeLimits } from './limits.ts';
import { unicodeCasemap } from './search.ts';
import type { ThreadInput, ThreadNode } from './types.ts';

interface Container {
  msg: ThreadInput | null; // null: a dummy (referenced, not in the set)
  parent: Container | null;
  children: Container[];
}

/** RFC 5256 §2.2 sent date: the Date header, else the internal date. */
function sentDate(m: ThreadInput): number {
  return m.sentDate ?? m.internalDate;
}

/** Sort key of a container: its message, or for a dummy its first child (children sorted first). */
function keyMessage(c: Container): ThreadInput | null {
  let cur: Container | undefined = c;
  while (cur !== undefined && cur.msg === null) cur = cur.children[0];
  return cur?.msg ?? null;
}

/** Siblings by sent date; ties by id (RFC 5256: sequence order). */
function byDate(a: Container, b: Container): number {
  const ma = keyMessage(a);
  const mb = keyMessage(b);
  if (ma === null || mb === null) return ma === mb ? 0 : ma === null ? 1 : -1;
  return sentDate(ma) - sentDate(mb) || ma.id - mb.id;
}

function checkSize(messages: ThreadInput[]): ThreadInput[] {
  if (messages.length > mimeLimits.threadMessagesMax) {
    throw new MimeError('TOO_MANY', `THREAD over ${messages.length} messages exceeds threadMessagesMax`);
  }
  return [...messages].sort((a, b) => a.id - b.id);
}

/** True when `a` is `b` or one of b's ancestors. */
function isAncestorOrSelf(a: Container, b: Container): boolean {
  for (let cur: Container | null = b; cur !== null; cur = cur.parent) if (cur === a) return true;
  return false;
}

function link(parent: Container, child: Container): void {
  child.parent = parent;
  parent.children.push(child);
}

function unlink(child: Container): void {
  const p = child.parent;
  if (p === null) return;
  p.children.splice(p.children.indexOf(child), 1);
  child.parent = null;
}

/** RFC 5256 §3 REFERENCES step 1: containers linked by Message-ID and References. */
function buildContainers(messages: ThreadInput[]): Container[] {
  const byId = new Map<string, Container>();
  const all: Container[] = [];
  const container = (id: string): Container => {
    let c = byId.get(id);
    if (c === undefined) {
      c = { msg: null, parent: null, children: [] };
      byId.set(id, c);
      all.push(c);
    }
    return c;
  };
  for (const m of messages) {
    // 1.A: a missing or duplicate Message-ID gets a unique one (a container of its own).
    let self: Container;
    const known = m.messageId === null ? undefined : byId.get(m.messageId);
    if (m.messageId !== null && (known === undefined || known.msg === null)) self = container(m.messageId);
    else {
      self = { msg: null, parent: null, children: [] };
      all.push(self);
    }
    self.msg = m;
    let prev: Container | null = null;
    for (const ref of m.references) {
      const r = container(ref);
      // Link adjacent references unless r already has a parent or the link would make a loop.
      if (prev !== null && r.parent === null && !isAncestorOrSelf(r, prev)) link(prev, r);
      prev = r;
    }
    // 1.B: the last reference becomes the parent, replacing any earlier (truncated-References) link.
    unlink(self);
    if (prev !== null && !isAncestorOrSelf(self, prev)) link(prev, self);
  }
  return all;
}

/** Step 3: dummies without children go; others give their children to their parent's level. */
function prune(list: Container[], atRoot: boolean): Container[] {
  const out: Container[] = [];
  for (const c of list) {
    c.children = prune(c.children, false);
    for (const k of c.children) k.parent = c;
    if (c.msg !== null) out.push(c);
    else if (c.children.length === 0) continue;
    else if (!atRoot || c.children.length === 1) out.push(...c.children);
    else out.push(c);
  }
  return out;
}

/** Step 6 (and 4 for the top level): siblings by date, the youngest sets first. */
function sortTree(list: Container[]): void {
  for (const c of list) sortTree(c.children);
  list.sort(byDate);
}

function subjectKey(c: Container): string {
  return unicodeCasemap(keyMessage(c)?.sortSubject ?? '');
}

function isReply(c: Container): boolean {
  return c.msg?.replyOrForward ?? false;
}

/** Step 5: threads under the root with the same base subject are merged. */
function mergeBySubject(roots: Container[]): Container[] {
  const table = new Map<string, Container>();
  for (const c of roots) {
    const subject = subjectKey(c);
    if (subject === '') continue;
    const t = table.get(subject);
    if (t === undefined || (t.msg !== null && (c.msg === null || (isReply(t) && !isReply(c))))) table.set(subject, c);
  }
  const out: Container[] = [];
  for (const c of roots) {
    const subject = subjectKey(c);
    const t = subject === '' ? undefined : table.get(subject);
    if (t === undefined || t === c) { out.push(c); continue; }
    if (t.msg === null && c.msg === null) {
      for (const k of c.children) link(t, k);
      c.children = [];
    } else if (t.msg === null || (isReply(c) && !isReply(t))) {
      link(t, c);
    } else {
      // A new dummy takes the table entry's place in the output, holding both.
      const dummy: Container = { msg: null, parent: null, children: [] };
      const at = out.indexOf(t);
      if (at >= 0) out[at] = dummy; else out.push(dummy);
      link(dummy, t);
      link(dummy, c);
      table.set(subject, dummy);
    }
  }
  return out;
}

function toNodes(list: Container[]): ThreadNode[] {
  return list.map((c) => ({ id: c.msg?.id ?? null, children: toNodes(c.children) }));
}

/** RFC 5256 §3 THREAD=REFERENCES, all six steps. */
export function threadReferences(messages: ThreadInput[]): ThreadNode[] {
  const all = buildContainers(checkSize(messages));
  let roots = all.filter((c) => c.parent === null); // step 2
  roots = prune(roots, true); // step 3
  for (const r of roots) r.parent = null;
  sortTree(roots); // step 4 (children sorted too, so a dummy's first child is its earliest)
  roots = mergeBySubject(roots); // step 5
  sortTree(roots); // step 6
  return toNodes(roots);
}

/**
 * RFC 5256 §3 THREAD=ORDEREDSUBJECT: messages grouped by base subject, each group's first message
 * (by sent date) the parent of the others; groups ordered by their first message's sent date.
 */
export function threadOrderedSubject(messages: ThreadInput[]): ThreadNode[] {
  const sorted = checkSize(messages).sort((a, b) => sentDate(a) - sentDate(b) || a.id - b.id);
  const groups = new Map<string, ThreadNode>();
  const out: ThreadNode[] = [];
  for (const m of sorted) {
    const key = unicodeCasemap(m.sortSubject);
    const g = groups.get(key);
    if (g === undefined) {
      const node: ThreadNode = { id: m.id, children: [] };
      groups.set(key, node);
      out.push(node);
    } else {
      g.children.push({ id: m.id, children: [] });
    }
  }
  return out;
}
