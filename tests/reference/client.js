#!/usr/bin/env node
// Reference oracle for tests/client_reference.rs: the npm `atlassian-jwt` package (pinned in
// package.json) checks tokens that ConnectClient sent, against the requests exactly as the
// fake product received them.
//
// Input, JSON Lines on stdin, one request per line:
//   {"token": "<jwt>", "secret": "s", "method": "GET", "target": "/wiki/p?x=1",
//    "base": "http://127.0.0.1:1234/wiki"}
// Output, one line per input line, in order:
//   {"claims": {...}, "qsh": "<npm's qsh of the request>", "canonical": "GET&/p&x=1"}
// or {"error": "<message>"} when npm throws (a bad signature, say).
//
//   claims:    jwt.decodeSymmetric(token, secret, "HS256")  (checks alg and signature)
//   qsh:       jwt.createQueryStringHash(jwt.fromMethodAndUrl(method, target), false, base)
//   canonical: jwt.createCanonicalRequest of the same, only to explain a mismatch
//
// Our code only calls the package's public API; it reimplements nothing.
'use strict';

const readline = require('readline');
const jwt = require('atlassian-jwt');

// `url.parse` may warn (DEP0170); the warning would only clutter the test output.
process.noDeprecation = true;

function check(input) {
  const claims = jwt.decodeSymmetric(input.token, input.secret, 'HS256');
  const request = jwt.fromMethodAndUrl(input.method, input.target);
  return {
    claims,
    qsh: jwt.createQueryStringHash(request, false, input.base),
    canonical: jwt.createCanonicalRequest(request, false, input.base),
  };
}

const out = [];
const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  let answer;
  try {
    answer = check(JSON.parse(line));
  } catch (err) {
    answer = { error: String((err && err.message) || err) };
  }
  out.push(JSON.stringify(answer));
});
lines.on('close', () => process.stdout.write(out.length ? out.join('\n') + '\n' : ''));
