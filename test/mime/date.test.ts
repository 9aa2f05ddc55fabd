// RFC 5322 §3.3 dates for SORT DATE and THREAD: zones, obsolete forms, comments, garbage; never local time.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRfc5322Date } from '../../src/mime/date.ts';

test('RFC 5322 date-time forms give UTC milliseconds, whatever the host time zone', () => {
  const at = Date.UTC(2003, 6, 1, 8, 52, 37);
  for (const v of ['Tue, 1 Jul 2003 10:52:37 +0200', '1 Jul 2003 10:52:37 +0200', 'Tue,  1 Jul 2003 10:52:37 +0200 (CEST)',
    'Tue, 01 July 2003 08:52:37 GMT', '1 Jul 03 08:52:37 UT', 'Tue, 1 Jul 2003 04:52:37 EDT', '1 Jul 2003 08:52:37',
    'Tue, 1 Jul 2003 08 : 52 : 37 -0000', '1 (day) Jul 2003 08:52:37 Z']) {
    assert.equal(parseRfc5322Date(v), at, v);
  }
  assert.equal(parseRfc5322Date('1 Jan 99 00:00 +0000'), Date.UTC(1999, 0, 1));
  assert.equal(parseRfc5322Date('1 Jan 103 00:00 +0000'), Date.UTC(2003, 0, 1));
});

test('garbage is not a date', () => {
  for (const v of ['', '2', 'garbage', 'Tue, 32 Jul 2003 10:52:37 +0200', '1 Foo 2003 10:00 +0000', '1 Jul 2003 25:00 +0000']) {
    assert.equal(parseRfc5322Date(v), null, v);
  }
  assert.equal(parseRfc5322Date(null), null);
});
