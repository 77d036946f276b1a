// An Error thrown by onError whose `stack` getter throws (defined on the instance, where V8 keeps
// `stack`): the warning said "a value that does not convert to a string", losing the error's
// message, though String() converts it. The message is reported; only the stack detail is left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { ShardMapClient } from '../../src/client/index.js';
import { listenForTest } from '../support/loopback-server.js';
import { keywayWarnings } from './process-warnings.js';
import { eventually } from '../support/eventually.js';

test('ShardMapClient: a callback Error whose stack getter throws is warned of with its message', async (t) => {
  const warnings = keywayWarnings(t);
  const server = createServer((req, res) => void res.writeHead(502, { 'content-type': 'text/html' }).end('<html>502</html>'));
  const baseUrl = await listenForTest(t, server);
  const client = new ShardMapClient({
    baseUrl,
    onError: () => {
      const err = new Error('the alerting hook is down');
      Object.defineProperty(err, 'stack', {
        get(): never {
          throw new Error('no stack');
        },
      });
      throw err;
    },
  });
  t.after(() => client.close());
  await assert.rejects(client.refresh());
  await eventually('the warning', () => warnings.length === 1);
  assert.match(warnings[0]!.message, /onError threw .*Error: the alerting hook is down/);
  assert.equal(warnings[0]!.detail, undefined);
});
