#!/usr/bin/env node
// atlassian-connect-express (ACE) with one authenticated route, for the load comparison in
// benches/load/run.sh: GET /api/whoami behind `addon.checkValidToken()` (ACE's check for the
// context tokens of `AP.context.getToken()`), answering what connect-app's /api/whoami does.
//
//   cd <scratch dir with ACE installed> && NODE_ENV=production node ace-app.js PORT TENANT_JSON
//
// The tenant is written into ACE's own store (its default: sequelize on SQLite in memory)
// with `addon.settings.set('clientInfo', ...)`, which is what ACE's /installed handler stores
// after a verified install; ACE checks signed installs against Atlassian's key server only,
// which this machine cannot reach, so the install itself is skipped. Writes "ready" on stdout.
'use strict';

const fs = require('fs');
const http = require('http');
const express = require('express');
const ace = require('atlassian-connect-express');

const [port, tenantFile] = process.argv.slice(2);
const tenant = JSON.parse(fs.readFileSync(tenantFile, 'utf8'));

fs.writeFileSync(
  'config.json',
  JSON.stringify({
    production: {
      port: Number(port),
      localBaseUrl: `http://127.0.0.1:${port}`,
      store: { adapter: 'sequelize', type: 'memory' },
    },
  }),
);
fs.writeFileSync(
  'atlassian-connect.json',
  JSON.stringify({
    key: 'com.example.ace-load',
    name: 'ACE load comparison',
    baseUrl: '{{localBaseUrl}}',
    authentication: { type: 'jwt' },
    lifecycle: { installed: '/installed', uninstalled: '/uninstalled' },
    apiMigrations: { 'context-qsh': true, 'signed-install': true },
    scopes: ['READ'],
    modules: {},
  }),
);

const app = express();
app.set('env', 'production');
app.set('port', Number(port));
const addon = ace(app);

app.get('/api/whoami', addon.checkValidToken(), (req, res) => {
  res.json({ clientKey: res.locals.clientKey, accountId: res.locals.userAccountId });
});

(async () => {
  await addon.settings.set(
    'clientInfo',
    {
      key: 'com.example.ace-load',
      clientKey: tenant.clientKey,
      sharedSecret: tenant.sharedSecret,
      baseUrl: tenant.baseUrl,
      productType: 'jira',
      eventType: 'installed',
    },
    tenant.clientKey,
  );
  http.createServer(app).listen(Number(port), '127.0.0.1', () => console.log('ready'));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
