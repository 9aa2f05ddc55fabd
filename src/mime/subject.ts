// RFC 5256 §2.1 base subject: the subject with reply/forward markers, blobs and trailers removed.
// Input is already RFC 2047-decoded (step 1's decoding is the caller's); pure string work.

// subj-blob = "[" *BLOBCHAR "]" *WSP
const BLOB = /^\[[^[\]]*\][ \t]*/;
// subj-leader = (*subj-blob subj-refwd) / WSP ; subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
const REFWD_LEADER = /^(?:\[[^[\]]*\][ \t]*)*(?:re|fwd?)[ \t]*(?:\[[^[\]]*\][ \t]*)?:/i;

export interface BaseSubject {
  base: string;
  /** True when a reply/forward marker was removed (RFC 5256 §2.1 and §3 step 5 "reply or forward"). */
  replyOrForward: boolean;
}

/** RFC 5256 §2.1 steps 1 (whitespace part) to 7, telling whether it was a reply or forward. */
export function extractBaseSubject(subject: string): BaseSubject {
  let s = subject.replace(/\r?\n(?=[ \t])/g, '').replace(/[\r\n]/g, '').replace(/[ \t]+/g, ' ');
  let replyOrForward = false;
  for (;;) {
    // step 2: subj-trailer = "(fwd)" / WSP, repeatedly (by hand: a regex anchored at $ is quadratic)
    for (;;) {
      if (s.endsWith(' ') || s.endsWith('\t')) s = s.slice(0, -1);
      else if (s.length >= 5 && s.slice(-5).toLowerCase() === '(fwd)') { s = s.slice(0, -5); replyOrForward = true; }
      else break;
    }
    for (;;) {
      // steps 3-5: leaders, then a blob if something is left after it
      const before = s;
      for (;;) {
        const lead = REFWD_LEADER.exec(s);
        if (lead !== null) { s = s.slice(lead[0].length); replyOrForward = true; continue; }
        if (s.startsWith(' ') || s.startsWith('\t')) { s = s.slice(1); continue; }
        break;
      }
      const blob = BLOB.exec(s);
      if (blob !== null && s.length > blob[0].length) s = s.slice(blob[0].length);
      if (s === before) break;
    }
    // step 6: subj-fwd = "[fwd:" subject "]"
    if (s.length >= 6 && s.slice(0, 5).toLowerCase() === '[fwd:' && s.endsWith(']')) {
      s = s.slice(5, -1);
      replyOrForward = true;
      continue;
    }
    return { base: s, replyOrForward };
  }
}

/** RFC 5256 §2.1 base subject of an already decoded subject. */
export function baseSubject(subject: string): string {
  return extractBaseSubject(subject).base;
}
