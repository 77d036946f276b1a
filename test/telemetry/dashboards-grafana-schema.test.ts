// The dashboards against Grafana's own published schema: @grafana/schema's `Dashboard` type, which
// Grafana generates from its CUE dashboard schema. Each dashboard JSON is checked by the TypeScript
// compiler as a literal that must satisfy that type, so a misspelt field, a wrong type or a bad
// enum value is an error (excess-property and type checks), reported with its line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { DASHBOARD_FILES, loadDashboard } from './support/dashboards.js';

const schemaTypes = path.join(path.dirname(createRequire(import.meta.url).resolve('@grafana/schema/package.json')), 'dist/types/index.d.ts');

/**
 * TypeScript string enums are nominal, but in JSON their values are plain strings: `Json<T>` is `T`
 * with every string enum replaced by the union of its values (other types unchanged, so excess
 * properties and wrong types are still errors).
 */
const PRELUDE = `import type { Dashboard } from '@grafana/schema';
type Json<T> = T extends string ? \`\${T}\` : T extends readonly (infer E)[] ? Json<E>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;
`;

/** Type-checks each dashboard against Grafana's Dashboard type; returns the diagnostics per file. */
function checkAgainstGrafanaSchema(dashboards: Record<string, unknown>): Record<string, string[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-grafana-'));
  try {
    const files = Object.entries(dashboards).map(([name, model], i) => {
      // `__inputs`/`__requires` are Grafana's import metadata, outside the dashboard model.
      const body = Object.fromEntries(Object.entries(model as Record<string, unknown>).filter(([k]) => !k.startsWith('__')));
      const file = path.join(dir, `dashboard${i}.ts`);
      writeFileSync(file, `${PRELUDE}export const dashboard = ${JSON.stringify(body, null, 2)} satisfies Json<Dashboard>;\n`);
      return { name, file };
    });
    const program = ts.createProgram(
      files.map((f) => f.file),
      { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler, paths: { '@grafana/schema': [schemaTypes] }, skipLibCheck: true },
    );
    const out: Record<string, string[]> = {};
    for (const { name, file } of files) {
      out[name] = ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => {
        const where = d.file && d.start !== undefined ? `line ${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: ` : '';
        return where + ts.flattenDiagnosticMessageText(d.messageText, '\n');
      });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('both dashboards satisfy Grafana’s published Dashboard schema type', { timeout: 120_000 }, () => {
  const models = Object.fromEntries(DASHBOARD_FILES.map((f) => [f, loadDashboard(f)]));
  assert.equal(Object.keys(models).length, 2);
  for (const [name, problems] of Object.entries(checkAgainstGrafanaSchema(models))) assert.deepEqual(problems, [], name);
});

test('the schema check is not vacuous: a misspelt field and a wrong type are rejected', { timeout: 120_000 }, () => {
  const good = loadDashboard(DASHBOARD_FILES[0]);
  const result = checkAgainstGrafanaSchema({
    misspelt: { ...good, titel: 'x' },
    wrongType: { ...good, refresh: 5, graphTooltip: 'shared' },
  });
  assert.ok(result.misspelt!.some((m) => m.includes('titel')), JSON.stringify(result.misspelt));
  // graphTooltip must be a DashboardCursorSync number; refresh a string such as "10s".
  assert.ok(result.wrongType!.some((m) => m.includes('DashboardCursorSync')), JSON.stringify(result.wrongType));
  assert.ok(result.wrongType!.some((m) => m.includes("'number' is not assignable to type 'string'")), JSON.stringify(result.wrongType));
});
