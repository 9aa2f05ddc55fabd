// The MIME tree (RFC 2045/2046) of a message in one pass over its bytes: byte offsets of every part's
// header and body, and its BODYSTRUCTURE facts. Must not decode bodies, throw on bad input, or exceed limits.

import { buildEnvelope } from './envelope.ts';
import { fieldValue, parseStructured, scanHeader, type BoundaryTest, type HeaderField } from './header.ts';
import { mimeLimits } from './limits.ts';
import type { BodyPart, Disposition, Envelope } from './types.ts';

const LF = 0x0a;
const CR = 0x0d;
const NL_DASH_DASH = Buffer.from('\n--');

/** Where the body of an entity stopped: at a boundary line of `level` in the stack, or at the end (-1). */
interface Stop {
  level: number;
  /** Start of the boundary line (or the message size). */
  lineStart: number;
  /** First byte after the boundary line. */
  lineEnd: number;
  close: boolean;
}

interface Ctx {
  buf: Buffer;
  size: number;
  parts: number;
  stringBytes: number;
}

export interface ParsedMessage {
  body: BodyPart;
  /** Top-level header fields (offsets only), for the message-level summary fields. */
  fields: HeaderField[];
  envelope: Envelope;
}

/** Parses the whole message. Never throws on malformed input. */
export function parseMessage(buf: Buffer): ParsedMessage {
  const ctx: Ctx = { buf, size: buf.length, parts: 0, stringBytes: 0 };
  const top = parseEntity(ctx, 0, [], 0, '', 'text/plain', true);
  return { body: top.node, fields: top.fields, envelope: top.envelope! };
}

function budgetLeft(ctx: Ctx): boolean {
  return ctx.parts < mimeLimits.partsMax && ctx.stringBytes < mimeLimits.summaryStringBytesMax;
}

function boundaryTest(ctx: Ctx, stack: Buffer[]): BoundaryTest | null {
  if (stack.length === 0) return null;
  return (lineStart, lineEnd) => matchBoundary(ctx.buf, lineStart, lineEnd, stack) !== null;
}

/**
 * The innermost boundary of `stack` the line starts with (a prefix match, as Dovecot does), or null.
 * Each stack entry is '--' + boundary.
 */
function matchBoundary(buf: Buffer, lineStart: number, lineEnd: number, stack: Buffer[]): Stop | null {
  const third = buf[lineStart + 2];
  for (let k = stack.length - 1; k >= 0; k--) {
    const b = stack[k]!;
    if (lineEnd - lineStart < b.length || b[2] !== third) continue;
    if (buf.compare(b, 0, b.length, lineStart, lineStart + b.length) !== 0) continue;
    const after = lineStart + b.length;
    const close = after + 1 < lineEnd && buf[after] === 0x2d && buf[after + 1] === 0x2d;
    return { level: k, lineStart, lineEnd, close };
  }
  return null;
}

/** Finds the next boundary line at or after `pos` (a line start). */
function scanToBoundary(ctx: Ctx, pos: number, stack: Buffer[]): Stop {
  const { buf, size } = ctx;
  const eof: Stop = { level: -1, lineStart: size, lineEnd: size, close: false };
  if (stack.length === 0) return eof;
  let lineStart = pos;
  for (;;) {
    if (lineStart < size && buf[lineStart] === 0x2d) {
      const nl = buf.indexOf(LF, lineStart);
      const lineEnd = nl < 0 ? size : nl + 1;
      const m = matchBoundary(buf, lineStart, lineEnd, stack);
      if (m !== null) return m;
    }
    const k = buf.indexOf(NL_DASH_DASH, lineStart);
    if (k < 0) return eof;
    lineStart = k + 1;
  }
}

/**
 * The end of a body cut by a boundary line: the line break before the line belongs to the boundary
 * (RFC 2046 §5.1.1), unless it ends a line at or before `floor` (a header line or a close-delimiter
 * line keeps its own line break, as Dovecot counts it).
 */
function bodyEndBefore(buf: Buffer, floor: number, stop: Stop): number {
  if (stop.level < 0) return stop.lineStart;
  let e = stop.lineStart;
  if (e > floor && buf[e - 1] === LF) e--;
  if (e > floor && buf[e - 1] === CR) e--;
  return e;
}

function countLines(buf: Buffer, start: number, end: number): number {
  let n = 0;
  for (let i = buf.indexOf(LF, start); i >= 0 && i < end; i = buf.indexOf(LF, i + 1)) n++;
  return n;
}

/**
 * Parses one entity (header + body) starting at `start`. `defaultType` is text/plain, or message/rfc822
 * inside multipart/digest (RFC 2046 §5.1.5).
 */
function parseEntity(
  ctx: Ctx, start: number, stack: Buffer[], depth: number, part: string, defaultType: string, isMessage: boolean,
): { node: BodyPart; stop: Stop; fields: HeaderField[]; envelope: Envelope | null } {
  ctx.parts++;
  ctx.stringBytes += partOverheadBytes + part.length * 2;
  const header = scanHeader(ctx.buf, start, ctx.size, boundaryTest(ctx, stack));
  // A message's envelope is charged to the budget before its parts are parsed.
  const envelope = isMessage ? buildEnvelope(ctx.buf, header.fields) : null;
  if (envelope !== null) ctx.stringBytes += envelopeBytes(envelope);
  const node = describePart(ctx, header.fields, defaultType, part, start, header.bodyStart);
  if (node.type === 'multipart' && (depth + 1 >= mimeLimits.depthMax || !budgetLeft(ctx))) demote(node);
  // RFC 9051 §6.4.5: a message's non-multipart body is its part 1 ('1' at the top, 'N.1' inside N).
  if (isMessage && node.type !== 'multipart') node.part = part === '' ? '1' : `${part}.1`;
  let stop: Stop;
  const cutByBoundary = !header.blankLine && header.bodyStart < ctx.size;
  let floor = node.bodyStart;
  if (cutByBoundary) {
    stop = matchBoundary(ctx.buf, header.bodyStart, lineEndAt(ctx.buf, header.bodyStart), stack)!;
  } else if (node.type === 'multipart') {
    ({ stop, floor } = parseMultipart(ctx, node, stack, depth));
  } else if (node.type === 'message' && node.subtype === 'rfc822' && opensAsMessage(ctx, depth)) {
    // Opened whatever its transfer encoding says, as Dovecot does.
    const inner = parseEntity(ctx, node.bodyStart, stack, depth + 1, node.part, 'text/plain', true);
    node.children.push(inner.node);
    node.envelope = inner.envelope;
    stop = inner.stop;
    floor = inner.node.end;
  } else {
    if (node.type === 'message' && node.subtype === 'rfc822') demote(node);
    stop = scanToBoundary(ctx, node.bodyStart, stack);
  }
  finishPart(ctx, node, stop, floor);
  return { node, stop, fields: header.fields, envelope };
}

function lineEndAt(buf: Buffer, pos: number): number {
  const nl = buf.indexOf(LF, pos);
  return nl < 0 ? buf.length : nl + 1;
}

function opensAsMessage(ctx: Ctx, depth: number): boolean {
  return depth + 1 < mimeLimits.depthMax && budgetLeft(ctx);
}

/** A container that is not opened (too deep, or over the part/string budget) is reported as an opaque leaf. */
function demote(node: BodyPart): void {
  node.type = 'application';
  node.subtype = 'octet-stream';
}

function finishPart(ctx: Ctx, node: BodyPart, stop: Stop, floor: number): void {
  node.end = Math.max(floor, bodyEndBefore(ctx.buf, floor, stop));
  node.size = node.end - node.bodyStart;
  const counted = node.type === 'text' || (node.type === 'message' && node.subtype === 'rfc822');
  node.lines = counted ? countLines(ctx.buf, node.bodyStart, node.end) : null;
}

/** Parses a multipart body: preamble, parts, epilogue. Returns where the enclosing entity stops. */
function parseMultipart(ctx: Ctx, node: BodyPart, stack: Buffer[], depth: number): { stop: Stop; floor: number } {
  const boundary = node.params.find(([n]) => n === 'boundary')?.[1] ?? '';
  if (boundary === '' || boundary.length > mimeLimits.boundaryBytesMax) {
    const stop = scanToBoundary(ctx, node.bodyStart, stack);
    addEmptyChild(ctx, node, stop);
    return { stop, floor: node.bodyStart };
  }
  const inner = [...stack, Buffer.from(`--${boundary}`, 'utf8')];
  const own = inner.length - 1;
  const childType = node.subtype === 'digest' ? 'message/rfc822' : 'text/plain';
  const prefix = node.part === '' ? '' : `${node.part}.`;
  let stop = scanToBoundary(ctx, node.bodyStart, inner); // preamble
  while (stop.level === own && !stop.close && budgetLeft(ctx)) {
    const part = `${prefix}${node.children.length + 1}`;
    const child = parseEntity(ctx, stop.lineEnd, inner, depth + 1, part, childType, false);
    node.children.push(child.node);
    stop = child.stop;
  }
  if (node.children.length === 0) addEmptyChild(ctx, node, stop);
  if (stop.level === own && !stop.close) {
    // Over budget: no further part is split off; the rest of the message is this multipart's epilogue.
    return { stop: { level: -1, lineStart: ctx.size, lineEnd: ctx.size, close: false }, floor: node.bodyStart };
  }
  if (stop.level !== own) return { stop, floor: node.bodyStart }; // no close delimiter
  const epilogue = stop.lineEnd;
  return { stop: scanToBoundary(ctx, epilogue, stack), floor: epilogue };
}

/** Dovecot reports a multipart without any part as holding one empty text/plain part. */
function addEmptyChild(ctx: Ctx, node: BodyPart, stop: Stop): void {
  const at = Math.max(node.bodyStart, bodyEndBefore(ctx.buf, node.bodyStart, stop));
  const child = emptyPart(node.part === '' ? '1' : `${node.part}.1`, at);
  child.params = [['charset', 'us-ascii']];
  child.lines = 0;
  node.children.push(child);
}

function emptyPart(part: string, at: number): BodyPart {
  return {
    part, type: 'text', subtype: 'plain', params: [], id: null, description: null, encoding: '7bit',
    headerStart: at, bodyStart: at, end: at, size: 0, lines: null, md5: null,
    disposition: null, language: null, location: null, children: [], envelope: null,
  };
}

/** The BODYSTRUCTURE facts of a part from its Content-* fields (first occurrence of each). */
function describePart(
  ctx: Ctx, fields: HeaderField[], defaultType: string, part: string, headerStart: number, bodyStart: number,
): BodyPart {
  const node = emptyPart(part, headerStart);
  node.bodyStart = bodyStart;
  const seen = new Set<string>();
  let typeSeen = false;
  for (const f of fields) {
    if (!f.name.startsWith('content-') || seen.has(f.name)) continue;
    seen.add(f.name);
    const value = fieldValue(ctx.buf, f);
    ctx.stringBytes += value.length;
    switch (f.name) {
      case 'content-type': typeSeen = applyType(node, value); break;
      case 'content-transfer-encoding': node.encoding = value.replace(/[\s(].*$/, '').toLowerCase() || '7bit'; break;
      case 'content-id': node.id = value || null; break;
      case 'content-description': node.description = value || null; break;
      case 'content-md5': node.md5 = value || null; break;
      case 'content-location': node.location = value.replace(/[ \t]+/g, '') || null; break;
      case 'content-language': node.language = languages(value); break;
      case 'content-disposition': node.disposition = disposition(value); break;
    }
  }
  if (!typeSeen) {
    const [t, s] = defaultType.split('/') as [string, string];
    node.type = t;
    node.subtype = s;
    node.params = [];
  }
  // RFC 2045 §5.2 default charset, appended as Dovecot does.
  if (node.type === 'text' && !node.params.some(([n]) => n === 'charset')) node.params.push(['charset', 'us-ascii']);
  return node;
}

function applyType(node: BodyPart, value: string): boolean {
  const v = parseStructured(value, true);
  const slash = v.value.indexOf('/');
  if (slash <= 0) return false;
  node.type = v.value.slice(0, slash);
  node.subtype = v.value.slice(slash + 1);
  node.params = v.params;
  return true;
}

function disposition(value: string): Disposition | null {
  const v = parseStructured(value, false);
  return v.value === '' ? null : { type: v.value, params: v.params };
}

function languages(value: string): string[] | null {
  const tags = value.replace(/\([^)]*\)/g, ' ').split(/[\s,]+/).filter((t) => t !== '');
  return tags.length === 0 ? null : tags.slice(0, mimeLimits.languagesMax);
}

/** What one part costs in the encoded summary besides its strings (numbers, nulls, array heads). */
const partOverheadBytes = 48;

/** Budget cost of an envelope: its strings and address fields (sender/reply-to may repeat from). */
function envelopeBytes(e: Envelope): number {
  let n = 32;
  for (const v of [e.date, e.subject, e.inReplyTo, e.messageId]) n += v?.length ?? 0;
  for (const list of [e.from, e.sender, e.replyTo, e.to, e.cc, e.bcc]) {
    for (const a of list ?? []) n += 8 + (a.name?.length ?? 0) + (a.adl?.length ?? 0) + (a.mailbox?.length ?? 0) + (a.host?.length ?? 0);
  }
  return n;
}
