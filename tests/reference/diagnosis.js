#!/usr/bin/env node
// Reference signer for tests/diagnosis.rs: signs each request with the npm `atlassian-jwt`
// package (pinned in package.json), as a Connect product or an npm-based app would, so the
// diagnosis is tested against tokens whose qsh the crate did not compute.
//
// Input, JSON Lines on stdin, one request per line:
//   {"method": "GET", "url": "/p?x=1", "base": "https://a.example/app",   ("base" optional)
//    "iss": "client-key", "iat": 1700000000, "secret": "s"}
// Output, one line per input line, in order:
//   {"token": "<jwt>", "canonical": "GET&/p&x=1"}   or   {"error": "<message>"}
//
//   qsh:   jwt.createQueryStringHash(jwt.fromMethodAndUrl(method, url), false, base)
//          (and jwt.createCanonicalRequest of the same, so the test can check the generator)
//   token: jwt.encodeSymmetric({iss, iat, exp: iat + 180, qsh}, secret)   (HS256)
//
// Our code only calls the package's public API; it reimplements nothing.
'use strict';

const readline = require('readline');
const jwt = require('atlassian-jwt');

// `url.parse` warns (DEP0170) about some URLs; the warning would only clutter the test output.
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

function sign(line) {
  try {
    const input = JSON.parse(line);
    const request = jwt.fromMethodAndUrl(input.method, input.url);
    const claims = {
      iss: input.iss,
      iat: input.iat,
      exp: input.iat + 180,
      qsh: jwt.createQueryStringHash(request, false, input.base),
    };
    return {
      token: jwt.encodeSymmetric(claims, input.secret),
      canonical: jwt.createCanonicalRequest(request, false, input.base),
    };
  } catch (err) {
    return { error: String((err && err.message) || err) };
  }
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => emit(sign(line)));
lines.on('close', flush);
