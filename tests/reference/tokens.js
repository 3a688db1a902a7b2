#!/usr/bin/env node
// Reference oracle for tests/interop.rs: signs, decodes and hashes with the npm
// `atlassian-jwt` package (pinned in package.json), so the crate's tokens can be checked
// against the tokens an npm-based Connect app (atlassian-connect-express) produces and accepts.
//
// Input, JSON Lines on stdin, one operation per line:
//   {"op": "sign",   "claims": {...}, "secret": "s"}          -> {"token": "<jwt>"}
//   {"op": "decode", "token": "<jwt>", "secret": "s"}         -> {"claims": {...}}
//   {"op": "qsh",    "method": "GET", "url": "/p?x=1", "base": "https://a.example/app"}
//                                ("base" optional) -> {"qsh": "<hex>", "canonical": "GET&/p&x=1"}
// Any operation that throws answers {"error": "<message>"} instead. One output line per input
// line, in order.
//
//   sign:   jwt.encodeSymmetric(claims, secret)             (HS256, the default)
//   decode: jwt.decodeSymmetric(token, secret, "HS256")     (checks alg and signature only)
//   qsh:    jwt.createQueryStringHash(jwt.fromMethodAndUrl(method, url), false, base)
//           (plus jwt.createCanonicalRequest of the same, only to explain a mismatch)
//
// Claims are signed exactly as JSON.parse read them: member order is kept, so the payload
// npm encodes is JSON.stringify of the claims in the order the test wrote them.
//
// Our code only calls the package's public API; it reimplements nothing.
'use strict';

const readline = require('readline');
const jwt = require('atlassian-jwt');

// `url.parse` may warn (DEP0170); the warning would only clutter the test output.
process.noDeprecation = true;

/** Flush once this many characters are pending, and otherwise once the input chunk is done. */
const FLUSH_AT = 1 << 16;

let pending = [];
let pendingChars = 0;
let flushScheduled = false;

function emit(record) {
  const line = JSON.stringify(record);
  pending.push(line);
  pendingChars += line.length + 1;
  if (pendingChars >= FLUSH_AT) {
    flush();
  } else if (!flushScheduled) {
    // The test talks to this process in rounds (it waits for the answers to one batch before
    // sending the next), so everything read so far must be answered without waiting for more
    // input. readline emits every line of a chunk synchronously; flush right after them.
    flushScheduled = true;
    setImmediate(flush);
  }
}

function flush() {
  flushScheduled = false;
  if (pending.length > 0) {
    process.stdout.write(pending.join('\n') + '\n');
    pending = [];
    pendingChars = 0;
  }
}

const OPS = {
  sign(input) {
    return { token: jwt.encodeSymmetric(input.claims, input.secret) };
  },
  decode(input) {
    return { claims: jwt.decodeSymmetric(input.token, input.secret, 'HS256') };
  },
  qsh(input) {
    const request = jwt.fromMethodAndUrl(input.method, input.url);
    return {
      qsh: jwt.createQueryStringHash(request, false, input.base),
      canonical: jwt.createCanonicalRequest(request, false, input.base),
    };
  },
};

function run(line) {
  try {
    const input = JSON.parse(line);
    const op = Object.prototype.hasOwnProperty.call(OPS, input.op) ? OPS[input.op] : null;
    if (!op) {
      return { error: 'unknown op ' + JSON.stringify(input.op) };
    }
    return op(input);
  } catch (err) {
    return { error: String((err && err.message) || err) };
  }
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => emit(run(line)));
lines.on('close', flush);
