// docs/kubernetes.md describes what manifests/ deploys. A variable the keyway container is given
// there, or an example directory, that the page never names is a setting users cannot learn of
// (KEYWAY_EXT_PROC_PORT=off, which turns the endpoint picker off, went unmentioned).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOC = readFileSync(path.join(ROOT, 'docs/kubernetes.md'), 'utf8');

/** The deployments docs/kubernetes.md describes: the base and the secured overlay's patch. */
const KEYWAY_DEPLOYMENTS = ['manifests/base/deployment.yaml', 'manifests/examples/secured/deployment-patch.yaml'];

interface Container {
  name?: string;
  env?: { name: string }[];
}

/** The names of the environment variables the `keyway` container of `file` sets. */
function keywayEnv(file: string): string[] {
  const names: string[] = [];
  for (const doc of parseAllDocuments(readFileSync(path.join(ROOT, file), 'utf8'))) {
    const obj = doc.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Container[] } } } } | null;
    if (obj?.kind !== 'Deployment') continue;
    for (const c of obj.spec?.template?.spec?.containers ?? []) {
      if (c.name === 'keyway') names.push(...(c.env ?? []).map((e) => e.name));
    }
  }
  return names;
}

test('docs/kubernetes.md names every variable the keyway container is given in the manifests it describes', () => {
  const vars = KEYWAY_DEPLOYMENTS.flatMap(keywayEnv);
  assert.ok(vars.length >= 8, `found only ${vars.length} variables: ${vars.join(', ')}`);
  assert.deepEqual(vars.filter((v) => !DOC.includes(v)), []);
});

test('docs/kubernetes.md names every example directory under manifests/examples', () => {
  const dir = path.join(ROOT, 'manifests/examples');
  const examples = readdirSync(dir).filter((d) => statSync(path.join(dir, d)).isDirectory());
  assert.ok(examples.length >= 4, `found only ${examples.join(', ')}`);
  assert.deepEqual(examples.filter((d) => !DOC.includes(`manifests/examples/${d}`)), []);
});
