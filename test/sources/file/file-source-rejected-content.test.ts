/**
 * A topology file refused for its content before it is parsed (past the 1 MiB budget, or not
 * UTF-8) is a rejected content like one that does not parse: logged and counted once per distinct
 * content, not again at every periodic check (2 s) or reload, and the last good topology stays.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_TOPOLOGY_FILE_BYTES } from '../../../src/core/limits.js';
import { FileSource } from '../../../src/sources/file/index.js';
import { eventually } from '../../support/eventually.js';
import { captureLogs, tempTopology, topologyText } from '../../serve/support.js';

const GOOD = topologyText({ ready: [true] });
const tooLarge = (pad: number): Buffer => Buffer.from(`${GOOD}#${'x'.repeat(MAX_TOPOLOGY_FILE_BYTES + pad)}\n`);
const latin1 = (zone: string): Buffer => Buffer.concat([Buffer.from(GOOD), Buffer.from(`# zone ${zone}\n`, 'latin1')]);

for (const [kind, bad, other] of [
  ['past the size budget', tooLarge(1), tooLarge(2)],
  ['not UTF-8', latin1('zé'), latin1('zè')],
] as const) {
  test(`a file ${kind}: counted and logged once per content, not at each check or reload`, async (t) => {
    const topo = await tempTopology(GOOD);
    const { logger, records } = captureLogs();
    const src = new FileSource({ file: topo.file, logger, debounce: { holdOffMs: 5, maxDelayMs: 20 }, pollIntervalMs: 10, watchDirectory: false });
    const errors: Error[] = [];
    src.onError((e) => errors.push(e));
    t.after(async () => {
      await src.stop();
      await topo.cleanup();
    });
    await src.start();
    const errorLogs = (): number => records.filter((r) => r.level >= 50).length;

    await writeFile(topo.file, bad);
    await eventually('the rejection', () => errors.length >= 1);
    for (let k = 0; k < 3; k++) await src.reload(); // what editor events and SIGHUP do
    await sleep(200); // 20 periodic checks
    assert.equal(errors.length, 1, `counted ${errors.length} times: ${errors[0]?.message}`);
    assert.equal(errorLogs(), 1);
    assert.equal(src.status().stale, true);
    assert.equal(src.config().topology.endpoints.length, 1, 'the last good topology stays');

    await writeFile(topo.file, other); // another content, refused alike: once more
    await eventually('the second rejection', () => errors.length >= 2);
    await sleep(200);
    assert.equal(errors.length, 2);
    assert.equal(errorLogs(), 2);

    await writeFile(topo.file, GOOD); // back to the topology in force: nothing is left rejected
    await eventually('healthy again', () => src.status().healthy);
    assert.equal(src.lastError(), undefined);
  });
}
