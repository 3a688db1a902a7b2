#!/usr/bin/env node
// Reference oracle for tests/differential.rs: runs each request through the npm
// `atlassian-jwt` package (pinned in package.json) and reports what it computes.
//
// Input, JSON Lines on stdin:   {"method": "GET", "url": "/p?x=1", "base": "https://a.example/app"}
//                               ("base" optional)
// Output, one line per input:   {"canonical": "GET&/p&x=1", "qsh": "<hex>"}  or  {"error": "<message>"}
//
// Our code only calls the package's public API; it reimplements nothing.
'use strict';

const readline = require('readline');
const jwt = require('atlassian-jwt');

// `url.parse` warns (DEP0170) about some generated URLs; the warning would only clutter the
// test output.
process.noDeprecation = true;

/** Flush the output once this many characters are pending: one write per chunk, not per line. */
const FLUSH_AT = 1 << 16;

let pending = [];
let pendingChars = 0;

function emit(record) {
  const line = JSON.stringify(record);
  pending.push(line);
  pendingChars += line.length + 1;
  if (pendingChars >= FLUSH_AT) {
    flush();
  }
}

function flush() {
  if (pending.length > 0) {
    process.stdout.write(pending.join('\n') + '\n');
    pending = [];
    pendingChars = 0;
  }
}

function canonicalize(line) {
  try {
    const input = JSON.parse(line);
    const request = jwt.fromMethodAndUrl(input.method, input.url);
    return {
      canonical: jwt.createCanonicalRequest(request, false, input.base),
      qsh: jwt.createQueryStringHash(request, false, input.base),
    };
  } catch (err) {
    return { error: String((err && err.message) || err) };
  }
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => emit(canonicalize(line)));
lines.on('close', flush);
