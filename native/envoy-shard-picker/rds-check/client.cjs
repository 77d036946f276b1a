/* eslint-disable @typescript-eslint/no-require-imports -- a plain CommonJS script run by run.sh */
/* global require, process, console, setTimeout */
const http = require('http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const get = () => new Promise((res, rej) => http.get({ host: '127.0.0.1', port: 19210, path: '/', agent, headers: { 'x-cache-shard': '0' } }, (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => res(r.statusCode + ' ' + b.trim())); }).on('error', rej));
const { execSync } = require('child_process');
(async () => {
  for (let i = 0; i < 3; i++) console.log('before', await get());
  execSync('python3 ' + process.env.RDS_PY + ' 127.0.0.1:19103,127.0.0.1:19101 > rds.tmp && mv rds.tmp rds.yaml');
  await new Promise((r) => setTimeout(r, 1500));
  for (let i = 0; i < 3; i++) console.log('after ', await get());
  agent.destroy();
})();
