#!/usr/bin/env node
// atlassian-connect-express (ACE) with one authenticated route, for the load comparison in
// benches/load/run.sh: GET /api/whoami behind `addon.checkValidToken()` (ACE's check for the
// context tokens of `AP.context.getToken()`), answering what connect-app's /api/whoami does.
//
//   cd <scratch dir with ACE installed> && NODE_ENV=production node ace-app.js PORT TENANT_JSON
//
// The tenant is written into ACE's own store with `addon.settings.set('clientInfo', ...)`,
// which is what ACE's /installed handler stores after a verified install; ACE checks signed
// installs against Atlassian's key server only, which this machine cannot reach, so the
// install itself is skipped. The store is ACE's default (sequelize on SQLite in memory) when
// its native `sqlite3` module is installed; otherwise (STORE=map, or sqlite3 missing) a
// JavaScript Map holding JSON strings, registered through `ace.store.register`: cheaper per
// lookup than SQLite, so ACE's numbers with it are, if anything, flattering. Writes the
// store's name and "ready" on stdout.
'use strict';

const fs = require('fs');
const http = require('http');
const express = require('express');
const ace = require('atlassian-connect-express');

const [port, tenantFile] = process.argv.slice(2);
const tenant = JSON.parse(fs.readFileSync(tenantFile, 'utf8'));

function sqliteInstalled() {
  try {
    require(require.resolve('sqlite3', { paths: [process.cwd()] }));
    return true;
  } catch (err) {
    return false;
  }
}

/** ACE's store interface over a Map of JSON strings (as its redis adapter keeps them). */
class MapStore {
  constructor() {
    this.map = new Map();
  }
  async get(key, clientKey) {
    const value = this.map.get(`${clientKey}:${key}`);
    return value === undefined ? null : JSON.parse(value);
  }
  async set(key, value, clientKey) {
    this.map.set(`${clientKey}:${key}`, JSON.stringify(value));
    return this.get(key, clientKey);
  }
  async saveInstallation(value, clientKey) {
    return this.set('clientInfo', value, clientKey);
  }
  async del(key, clientKey) {
    this.map.delete(`${clientKey}:${key}`);
  }
  async getAllClientInfos() {
    return [...this.map.entries()].filter(([k]) => k.endsWith(':clientInfo')).map(([, v]) => JSON.parse(v));
  }
  isMemoryStore() {
    return true;
  }
}

const storeName = process.env.STORE === 'map' || !sqliteInstalled() ? 'map' : 'sequelize';
ace.store.register('map', () => new MapStore());

fs.writeFileSync(
  'config.json',
  JSON.stringify({
    production: {
      port: Number(port),
      localBaseUrl: `http://127.0.0.1:${port}`,
      store: storeName === 'map' ? { adapter: 'map' } : { adapter: 'sequelize', type: 'memory' },
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
// As ACE's app template: without a parsed body ACE never looks at the Authorization header.
app.use(express.json());
app.use(express.urlencoded({ extended: false }));
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
  console.log(`store: ${storeName}`);
  http.createServer(app).listen(Number(port), '127.0.0.1', () => console.log('ready'));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
