/**
 * The import rules of docs/architecture.md "Rules", as data and a checker: each module of src/ has
 * a rank in pipeline order and may import only modules of a lower rank (and itself); the pure cores
 * import no framework and no I/O; only the admin API and the composition root import fastify.
 * `scripts/check-imports.ts` runs it over src/ in `npm run lint`; test/architecture checks that it
 * catches each kind of violation.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/** Modules in pipeline order; the longest matching prefix of a file's path under src/ names its module. */
export const MODULES: readonly { readonly prefix: string; readonly rank: number }[] = [
  { prefix: 'core/', rank: 0 },
  { prefix: 'config/', rank: 1 },
  { prefix: 'sources/', rank: 2 },
  { prefix: 'sharding/', rank: 3 },
  // The facade over the generated protobuf, then the xDS vocabulary (resource kinds, proxy classes,
  // the references between resources) that the translator, the cache and the server share.
  { prefix: 'xds/proto.ts', rank: 4 },
  { prefix: 'xds/resources.ts', rank: 5 },
  { prefix: 'xds/references.ts', rank: 5 },
  { prefix: 'xds/translator/', rank: 6 },
  { prefix: 'xds/cache/', rank: 7 },
  { prefix: 'xds/server/', rank: 8 },
  { prefix: 'telemetry/', rank: 9 },
  { prefix: 'admin/', rank: 9 },
  // The endpoint picker (ext_proc server): reads the serving view like the admin API, reaches the
  // generated protobuf through the facade and the gRPC service helper of the xDS server.
  { prefix: 'extproc/', rank: 9 },
  { prefix: 'app/', rank: 10 },
  // The client library (keyway/client): hash contract 1 from sharding, the REST bodies (type-only)
  // from admin. It runs in applications, not in keyway, so nothing imports it.
  { prefix: 'client/', rank: 10 },
  // The shard picker for grpc-js (keyway/grpc): the shard-picker contract from core, hash contract
  // 1 from sharding. Like the client library it runs in applications, so nothing imports it.
  { prefix: 'grpc/', rank: 10 },
  // The ownership agent (keyway/agent): the protobuf facade and the xDS vocabulary, in a cache
  // node. It runs beside the cache, not in keyway, so nothing imports it.
  { prefix: 'agent/', rank: 10 },
  { prefix: 'cli/', rank: 11 },
];

/** Pure cores: computation only, no framework, no I/O. */
export const PURE_CORES: readonly string[] = ['core/', 'sharding/', 'xds/translator/'];

/** Packages and built-ins a pure core may not import at run time (a type-only import of pino's Logger is allowed). */
export const FRAMEWORKS: readonly RegExp[] = [
  /^fastify/,
  /^@grpc\//,
  /^@kubernetes\//,
  /^@opentelemetry\//,
  /^pino/,
  /^yaml$/,
  // node:net is left out: the translator uses its pure isIP; sockets belong to the xDS server.
  /^node:(fs|http|http2|child_process|dgram|dns|tls)(\/|$)/,
];

/**
 * Imports allowed by rank but only for types: the client library reads the REST bodies' types from
 * the admin API and must not load the admin API (fastify) into an application.
 */
export const TYPE_ONLY_IMPORTS: readonly { readonly from: string; readonly to: string }[] = [{ from: 'client/', to: 'admin/' }];

/** Only these modules may import the HTTP framework. */
export const HTTP_FRAMEWORK_USERS: readonly string[] = ['admin/', 'app/'];

export interface SourceFile {
  /** Path relative to src/, e.g. `xds/cache/snapshot.ts`. */
  readonly path: string;
  readonly text: string;
}

export interface Violation {
  readonly file: string;
  readonly line: number;
  readonly specifier: string;
  readonly rule: string;
}

interface ImportRef {
  readonly specifier: string;
  readonly line: number;
  readonly typeOnly: boolean;
}

export function moduleOf(path: string): { prefix: string; rank: number } | undefined {
  let best: { prefix: string; rank: number } | undefined;
  for (const m of MODULES) if (path.startsWith(m.prefix) && (!best || m.prefix.length > best.prefix.length)) best = m;
  return best;
}

/** Every static import and re-export of a file, with whether it is type-only. */
function importsOf(file: SourceFile): ImportRef[] {
  const source = ts.createSourceFile(file.path, file.text, ts.ScriptTarget.ES2022, false);
  const refs: ImportRef[] = [];
  const add = (spec: ts.Expression | undefined, typeOnly: boolean, node: ts.Node): void => {
    if (!spec || !ts.isStringLiteral(spec)) return;
    refs.push({ specifier: spec.text, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1, typeOnly });
  };
  for (const st of source.statements) {
    if (ts.isImportDeclaration(st)) add(st.moduleSpecifier, st.importClause?.isTypeOnly ?? false, st);
    else if (ts.isExportDeclaration(st)) add(st.moduleSpecifier, st.isTypeOnly, st);
  }
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0], false, node);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return refs;
}

/** Resolves a relative specifier of `from` (path under src/) to a path under src/, or undefined when it leaves src/. */
function resolveRelative(from: string, specifier: string): string | undefined {
  const parts = from.split('/').slice(0, -1);
  for (const seg of specifier.split('/')) {
    if (seg === '.' || seg === '') continue;
    if (seg === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(seg);
  }
  return parts.join('/').replace(/\.js$/, '.ts');
}

/** Checks every file against the rules; an empty list means the layout holds. */
export function importViolations(files: readonly SourceFile[]): Violation[] {
  const out: Violation[] = [];
  for (const file of files) {
    const own = moduleOf(file.path);
    const pure = PURE_CORES.some((p) => file.path.startsWith(p));
    for (const ref of importsOf(file)) {
      const at = { file: file.path, line: ref.line, specifier: ref.specifier };
      if (ref.specifier.startsWith('.')) {
        const target = resolveRelative(file.path, ref.specifier);
        if (target === undefined) {
          if (!ref.specifier.includes('/proto/gen/')) out.push({ ...at, rule: 'imports a file outside src/' });
          else if (file.path !== 'xds/proto.ts') out.push({ ...at, rule: 'generated protobuf is reached through src/xds/proto.ts only' });
          continue;
        }
        const theirs = moduleOf(target);
        if (!own || !theirs || own.prefix === theirs.prefix) continue;
        if (theirs.rank >= own.rank) {
          out.push({ ...at, rule: `${own.prefix} (rank ${own.rank}) may not import ${theirs.prefix} (rank ${theirs.rank}): imports point down the pipeline` });
        } else if (!ref.typeOnly && TYPE_ONLY_IMPORTS.some((r) => r.from === own.prefix && r.to === theirs.prefix)) {
          out.push({ ...at, rule: `${own.prefix} may import ${theirs.prefix} for types only (import type)` });
        }
        continue;
      }
      if (pure && !ref.typeOnly && FRAMEWORKS.some((f) => f.test(ref.specifier))) {
        out.push({ ...at, rule: `a pure core imports a framework or I/O module` });
      }
      if (/^fastify/.test(ref.specifier) && !HTTP_FRAMEWORK_USERS.some((p) => file.path.startsWith(p))) {
        out.push({ ...at, rule: `only ${HTTP_FRAMEWORK_USERS.join(' and ')} may import fastify` });
      }
    }
  }
  return out;
}

/** Reads every .ts file under `dir` (src/) and checks it: the lint step and its test call this. */
export function checkSourceTree(dir: string): { files: number; violations: Violation[]; unplaced: string[] } {
  const walk = (d: string): string[] =>
    readdirSync(d).flatMap((name) => {
      const path = join(d, name);
      return statSync(path).isDirectory() ? walk(path) : path.endsWith('.ts') ? [path] : [];
    });
  const files: SourceFile[] = walk(dir).map((path) => ({ path: relative(dir, path).split('\\').join('/'), text: readFileSync(path, 'utf8') }));
  return { files: files.length, violations: importViolations(files), unplaced: files.filter((f) => !moduleOf(f.path)).map((f) => f.path) };
}
