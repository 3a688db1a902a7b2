#!/usr/bin/env node
// Times npm `atlassian-jwt` verifying the same request benches/compare.rs verifies: decode
// and check the HS256 token, then compare its qsh with the request's. Prints ns per call
// (best of 15 batches), for benches/report.sh to put next to the Rust numbers.
//
// Usage: node bench.js SECRET BASE_URL URL
'use strict';

const jwt = require('atlassian-jwt');

process.noDeprecation = true;

const [secret, base, url] = process.argv.slice(2);
if (!url) {
  console.error('usage: node bench.js SECRET BASE_URL URL');
  process.exit(2);
}

function verifyOnce() {
  const req = jwt.fromMethodAndUrl('GET', url);
  const token = req.query.jwt;
  const claims = jwt.decodeSymmetric(token, secret, 'HS256');
  if (claims.exp * 1000 < 0) throw new Error('unreachable');
  return claims.qsh === jwt.createQueryStringHash(req, false, base);
}

if (!verifyOnce()) {
  console.error('npm atlassian-jwt does not verify the fixture: qsh differs');
  process.exit(1);
}
const iterations = 20000;
let best = Infinity;
for (let batch = 0; batch < 15; batch++) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    if (!verifyOnce()) throw new Error('verification failed');
  }
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  best = Math.min(best, ns);
}
console.log(`npm-atlassian-jwt-ns ${best.toFixed(0)}`);
