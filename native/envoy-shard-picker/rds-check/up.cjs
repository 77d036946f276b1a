/* eslint-disable @typescript-eslint/no-require-imports -- a plain CommonJS script run by run.sh */
/* global require, process */
const http = require('http');
for (const port of process.argv.slice(2).map(Number)) {
  http.createServer((req, res) => { res.setHeader('x-served-by', String(port)); res.end(JSON.stringify({port, shard: req.headers['x-cache-shard'] ?? null, dest: req.headers['x-gateway-destination-endpoint'] ?? null}) + '\n'); }).listen(port, '127.0.0.1');
}
