/**
 * The stock proxyless client of the grpc-sync benchmark: @grpc/grpc-js-xds, bootstrapped from
 * GRPC_XDS_BOOTSTRAP_CONFIG, resolving `xds:///<target>` (its argv[2]) without sending a call.
 * On a line "report" on stdin it prints its CPU seconds since it started resolving and exits.
 */
import { Client, Metadata, credentials } from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';
import { createInterface } from 'node:readline';

xds.register();
const started = process.cpuUsage();
const client = new Client(`xds:///${process.argv[2]}`, credentials.createInsecure());
// A call (waiting for ready, never answered: no endpoint listens) starts the xDS resolution:
// listener, routes, clusters, endpoints.
const raw = (b: Buffer): Buffer => b;
client.makeUnaryRequest('/keyway.bench.Cache/Get', raw, raw, Buffer.alloc(0), new Metadata({ waitForReady: true }), { deadline: Infinity }, () => {});
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'report') return;
  const cpu = process.cpuUsage(started);
  process.stdout.write(`${JSON.stringify({ cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
  client.close();
  process.exit(0);
});
