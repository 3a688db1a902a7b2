#!/usr/bin/env node
// The product's side of connect-app's end-to-end tests and load scripts: the tokens Jira
// signs, made by the npm `atlassian-jwt` (pinned in package.json), as atlassian-connect-express
// apps receive them.
//
// Input, JSON Lines on stdin, one operation per line; one output line per input line, in order:
//   {"op": "request", "method": "GET", "url": "/panel?a=1", "base": "https://app.example/app",
//    "secret": "s", "iss": "clientKey", "sub": "accountId", "iat": 1, "exp": 2}
//        -> {"token": "<HS256 jwt>"}   request-bound: qsh of method and url ("base", optional,
//                                      is stripped from url as npm does; "sub" optional)
//   {"op": "context", "secret": "s", "iss": "clientKey", "sub": "accountId", "iat": 1, "exp": 2}
//        -> {"token": "<HS256 jwt>"}   a context token: qsh "context-qsh"
//   {"op": "install", "url": "/installed", "privateKey": "<PEM>", "kid": "k", "iss": "clientKey",
//    "aud": "https://app.example", "iat": 1, "exp": 2}
//        -> {"token": "<RS256 jwt>"}   a signed-install token for POST url
//   {"op": "keypair"}
//        -> {"privateKey": "<PKCS#8 PEM>", "publicKey": "<SPKI PEM>"}   RSA 2048
// Any operation that throws answers {"error": "<message>"} instead.
//
// Our code only calls the package's public API (and node's crypto for key pairs).
'use strict';

const crypto = require('crypto');
const readline = require('readline');
const jwt = require('atlassian-jwt');

// `url.parse` may warn (DEP0170); the warning would only clutter the test output.
process.noDeprecation = true;

function claims(input, qsh) {
  const out = { iss: input.iss, iat: input.iat, exp: input.exp, qsh };
  if (input.sub !== undefined) out.sub = input.sub;
  if (input.aud !== undefined) out.aud = input.aud;
  return out;
}

const OPS = {
  request(input) {
    const request = jwt.fromMethodAndUrl(input.method, input.url);
    const qsh = jwt.createQueryStringHash(request, false, input.base);
    return { token: jwt.encodeSymmetric(claims(input, qsh), input.secret) };
  },
  context(input) {
    return { token: jwt.encodeSymmetric(claims(input, 'context-qsh'), input.secret) };
  },
  install(input) {
    const qsh = jwt.createQueryStringHash(jwt.fromMethodAndUrl('POST', input.url), false);
    const token = jwt.encodeAsymmetric(claims(input, qsh), input.privateKey, jwt.AsymmetricAlgorithm.RS256, {
      kid: input.kid,
    });
    return { token };
  },
  keypair() {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    return { privateKey, publicKey };
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
lines.on('line', (line) => process.stdout.write(JSON.stringify(run(line)) + '\n'));
