// The committed generated protobuf code must be exactly what scripts/gen-proto.sh produces from the
// pinned @grpc/grpc-js-xds protos: a stale or hand-edited file fails here.
// Regenerating takes tens of seconds, so the fast tier only recomputes proto/gen/INPUTS.txt (the
// hashes and versions of the generator's inputs, which the generator writes); the full
// regeneration runs when that differs, or always with KEYWAY_SLOW_TESTS=1 (as in CI).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const committed = 'proto/gen';
const stampFile = join(committed, 'INPUTS.txt');

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

/** What scripts/gen-proto.sh writes to INPUTS.txt, computed from the inputs as they are now. */
function currentStamp(): string {
  const lines = ['# Written by scripts/gen-proto.sh from its inputs; test/xds/proto-drift.test.ts recomputes it.'];
  for (const file of ['proto/files.txt', 'scripts/gen-proto.sh', 'proto/keyway/v1/ownership.proto']) {
    lines.push(`sha256 ${file} ${createHash('sha256').update(readFileSync(file)).digest('hex')}`);
  }
  for (const pkg of ['@grpc/grpc-js-xds', '@bufbuild/buf', '@bufbuild/protoc-gen-es']) {
    const { version } = JSON.parse(readFileSync(join('node_modules', pkg, 'package.json'), 'utf8')) as { version: string };
    lines.push(`version ${pkg} ${version}`);
  }
  return `${lines.join('\n')}\n`;
}

const stamp = existsSync(stampFile) ? readFileSync(stampFile, 'utf8') : undefined;
const inputsUnchanged = stamp === currentStamp();
const slow = process.env.KEYWAY_SLOW_TESTS === '1';

test('the generated code was generated from the current inputs (proto/gen/INPUTS.txt)', () => {
  assert.equal(stamp, currentStamp(), 'inputs changed: run scripts/gen-proto.sh');
});

test(
  'generated protobuf code matches a fresh generation',
  {
    timeout: 300_000,
    skip:
      inputsUnchanged && !slow
        ? 'the generator inputs are unchanged (proto/gen/INPUTS.txt), so regenerating is left to the slow tier: KEYWAY_SLOW_TESTS=1'
        : false,
  },
  () => {
    const out = join(mkdtempSync(join(tmpdir(), 'keyway-proto-')), 'gen');
    try {
      execFileSync('bash', ['scripts/gen-proto.sh', out], { stdio: 'pipe' });
      const fresh = listFiles(out).map((f) => relative(out, f)).sort();
      const mine = listFiles(committed).map((f) => relative(committed, f)).sort();
      assert.deepEqual(mine, fresh, 'the set of generated files differs: run scripts/gen-proto.sh');
      for (const file of fresh) {
        const same = readFileSync(join(out, file)).equals(readFileSync(join(committed, file)));
        assert.ok(same, `${file} differs from a fresh generation: run scripts/gen-proto.sh`);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  },
);
