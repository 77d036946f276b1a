/**
 * Another keyway replica for differential.test.ts: reads fleet states (JSON) on stdin and prints,
 * per state, the versions a cache with no history serves each proxy class (differential-inputs.ts).
 */
import { readFileSync } from 'node:fs';
import { SnapshotCache } from '../../../src/xds/cache/index.js';
import { checkConsistency, effectiveProxyClass, translate } from '../../../src/xds/translator/index.js';
import { KIND_ORDER, proxyClassKey } from '../../../src/xds/resources.js';
import { inputOf, proxyClasses, type FleetState } from './differential-inputs.js';

const states = JSON.parse(readFileSync(0, 'utf8')) as FleetState[];
const out = states.map((state) => {
  const input = inputOf(state);
  const cache = new SnapshotCache({ checkConsistency, build: (c) => translate(input, c), servedClass: (c) => effectiveProxyClass(c, input) });
  const versions: Record<string, Record<string, string>> = {};
  for (const c of proxyClasses()) {
    const s = cache.snapshot(c);
    const v: Record<string, string> = {};
    if (s) {
      for (const kind of KIND_ORDER) {
        v[kind] = s.kinds[kind].version;
        for (const [name, r] of s.kinds[kind].resources) v[`${kind}/${name}`] = r.version;
      }
    }
    versions[proxyClassKey(c)] = v;
  }
  return versions;
});
process.stdout.write(JSON.stringify(out));
