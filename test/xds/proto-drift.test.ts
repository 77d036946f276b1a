// The committed generated protobuf code must be exactly what scripts/gen-proto.sh produces from the
// pinned @grpc/grpc-js-xds protos: a stale or hand-edited file fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const committed = 'proto/gen';

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(path) : [path];
  });
}

test('generated protobuf code matches a fresh generation', { timeout: 300_000 }, () => {
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
});
