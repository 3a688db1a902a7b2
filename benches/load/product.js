#!/usr/bin/env node
// The product for the load runs (benches/load/run.sh): Atlassian's key server and one Jira
// site on 127.0.0.1, a signed install of one tenant into the app, and the tokens the load
// generator sends, written to files. Tokens come from the npm `atlassian-jwt` pinned in
// tests/reference (run with NODE_PATH=tests/reference/node_modules).
//
//   node product.js PORT APP_BASE_URL OUT_DIR LIFETIME_SECONDS
//
// Serves until killed:
//   GET /keys/<kid>          the install key's public PEM
//   GET /rest/api/3/user     {"accountId": ..., "displayName": ...}
// Writes to OUT_DIR, once the install answered 204:
//   context.token            a context token (AP.context.getToken())
//   panel.token              a request-bound token for GET /panel
//   hostile-*.token          tokens /panel must refuse (context, other path, wrong secret,
//                            expired, unknown tenant)
//   tenant.json              clientKey, sharedSecret, baseUrl (to seed ACE's store)
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const path = require('path');
const jwt = require('atlassian-jwt');

process.noDeprecation = true;

const [port, appBaseUrl, outDir, lifetimeText] = process.argv.slice(2);
const lifetime = Number(lifetimeText || 600);
const KID = 'load-install-key';
const CLIENT_KEY = 'jira:load-tenant';
const SECRET = crypto.randomBytes(32).toString('hex');
const ACCOUNT = '557058:load-user';
const productBaseUrl = `http://127.0.0.1:${port}`;

const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

const userBody = JSON.stringify({ accountId: ACCOUNT, displayName: 'Load Test User' });

const server = http.createServer((req, res) => {
  if (req.url === `/keys/${KID}`) {
    res.writeHead(200, { 'content-type': 'application/x-pem-file' });
    res.end(publicKey);
  } else if (req.url.startsWith('/rest/api/3/user?')) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(userBody);
  } else {
    res.writeHead(404);
    res.end();
  }
});
server.keepAliveTimeout = 60000;

function now() {
  return Math.floor(Date.now() / 1000);
}

function requestToken(method, url, secret, iss, iat) {
  const qsh = jwt.createQueryStringHash(jwt.fromMethodAndUrl(method, url), false);
  return jwt.encodeSymmetric({ iss, sub: ACCOUNT, iat, exp: iat + lifetime, qsh }, secret);
}

function contextToken(secret, iss) {
  const iat = now();
  return jwt.encodeSymmetric({ iss, sub: ACCOUNT, iat, exp: iat + lifetime, qsh: 'context-qsh' }, secret);
}

async function install() {
  const iat = now();
  const qsh = jwt.createQueryStringHash(jwt.fromMethodAndUrl('POST', '/installed'), false);
  const token = jwt.encodeAsymmetric(
    { iss: CLIENT_KEY, aud: appBaseUrl, iat, exp: iat + 180, qsh },
    privateKey,
    jwt.AsymmetricAlgorithm.RS256,
    { kid: KID },
  );
  const body = JSON.stringify({
    key: process.env.APP_KEY || 'com.example.connect-app',
    clientKey: CLIENT_KEY,
    sharedSecret: SECRET,
    baseUrl: productBaseUrl,
    productType: 'jira',
    eventType: 'installed',
  });
  const response = await fetch(`${appBaseUrl}/installed`, {
    method: 'POST',
    headers: { authorization: `JWT ${token}`, 'content-type': 'application/json' },
    body,
  });
  if (response.status !== 204) {
    throw new Error(`install answered ${response.status}: ${await response.text()}`);
  }
}

function write(name, text) {
  fs.writeFileSync(path.join(outDir, name), text + '\n');
}

server.listen(Number(port), '127.0.0.1', async () => {
  try {
    if (appBaseUrl !== '-') {
      await install();
    }
    const iat = now();
    write('context.token', contextToken(SECRET, CLIENT_KEY));
    write('panel.token', requestToken('GET', '/panel', SECRET, CLIENT_KEY, iat));
    write('hostile-context.token', contextToken(SECRET, CLIENT_KEY));
    write('hostile-other-path.token', requestToken('GET', '/other', SECRET, CLIENT_KEY, iat));
    write('hostile-wrong-secret.token', requestToken('GET', '/panel', 'wrong-secret-0123456789', CLIENT_KEY, iat));
    write('hostile-expired.token', requestToken('GET', '/panel', SECRET, CLIENT_KEY, iat - 3600 - lifetime));
    write('hostile-unknown-tenant.token', requestToken('GET', '/panel', SECRET, 'jira:stranger', iat));
    write('whoami-request.token', requestToken('GET', '/api/whoami', SECRET, CLIENT_KEY, iat));
    write('tenant.json', JSON.stringify({ clientKey: CLIENT_KEY, sharedSecret: SECRET, baseUrl: productBaseUrl }));
    write('ready', 'ok');
  } catch (err) {
    console.error(String((err && err.message) || err));
    process.exit(1);
  }
});
