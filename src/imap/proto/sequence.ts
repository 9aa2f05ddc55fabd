// Sequence sets (RFC 9051 §9 sequence-set): ranges in either order, `*`, and `$` (RFC 5182 saved search).
// Pure: parsing and expansion against a view's numbers; nothing here knows a mailbox.

import { imapSequenceRangesMax } from '../limits.ts';
import { ParseError, type Reader } from './reader.ts';

/** A bound: a number, or `*` (the largest number in use). */
export type SeqBound = number | '*';

export type SequenceSet = { readonly kind: 'ranges'; readonly ranges: readonly (readonly [SeqBound, SeqBound])[] } | { readonly kind: 'saved' };

function bound(r: Reader): SeqBound {
  return r.eat('*') ? '*' : r.nzNumber();
}

export function parseSequenceSet(r: Reader): SequenceSet {
  if (r.eat('$')) return { kind: 'saved' };
  const ranges: [SeqBound, SeqBound][] = [];
  do {
    const a = bound(r);
    const b = r.eat(':') ? bound(r) : a;
    ranges.push([a, b]);
    if (ranges.length > imapSequenceRangesMax) throw new ParseError(`more than ${imapSequenceRangesMax} ranges in a sequence set`);
  } while (r.eat(','));
  return { kind: 'ranges', ranges };
}

/** True when the next octets look like a sequence set (search keys use this to tell a set from a key). */
export function looksLikeSequenceSet(r: Reader): boolean {
  const c = r.peek();
  return (c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x24;
}

/** Ranges normalized low..high with `*` replaced by `star`, merged and sorted. */
export function normalizeRanges(set: Extract<SequenceSet, { kind: 'ranges' }>, star: number): [number, number][] {
  const rs = set.ranges.map(([a, b]): [number, number] => {
    const x = a === '*' ? star : a;
    const y = b === '*' ? star : b;
    return x <= y ? [x, y] : [y, x];
  });
  rs.sort((p, q) => p[0] - q[0]);
  const out: [number, number][] = [];
  for (const r of rs) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}

/** The members of `sorted` (ascending) that fall in the ranges; for UID sets against a view's UIDs. */
export function selectSorted(sorted: readonly number[], ranges: readonly [number, number][]): number[] {
  const out: number[] = [];
  for (const [lo, hi] of ranges) {
    let i = lowerBound(sorted, lo);
    while (i < sorted.length && sorted[i]! <= hi) out.push(sorted[i++]!);
  }
  return out;
}

export function lowerBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Compact form for responses: 1:3,5,7:9 (numbers ascending, duplicates removed). */
export function formatSequence(nums: readonly number[]): string {
  const sorted = [...nums].sort((a, b) => a - b);
  const parts: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1]! <= sorted[j]! + 1) j++;
    parts.push(sorted[i] === sorted[j] ? `${sorted[i]}` : `${sorted[i]}:${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** Numbers in order as given (COPYUID pairs must keep source/destination order), ranges when consecutive. */
export function formatOrdered(nums: readonly number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < nums.length) {
    let j = i;
    while (j + 1 < nums.length && nums[j + 1] === nums[j]! + 1) j++;
    parts.push(i === j ? `${nums[i]}` : `${nums[i]}:${nums[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
