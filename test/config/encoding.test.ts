/**
 * The topology file's text encoding: YAML is UTF-8 here, and bytes that are not UTF-8 (a file saved
 * as Latin-1 or UTF-16) are refused at their line and column rather than read as U+FFFD, which
 * would silently make two different localities one.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfigFile, readConfigText } from '../../src/config/index.js';
import { KeywayErrors } from '../../src/core/errors.js';

async function withFile(bytes: Buffer, fn: (file: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'keyway-encoding-'));
  try {
    const file = join(dir, 'topology.yaml');
    await writeFile(file, bytes);
    await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function onlyError(err: unknown): { code: string; line?: number; column?: number; message: string } {
  assert.ok(err instanceof KeywayErrors, `expected KeywayErrors, got ${String(err)}`);
  assert.equal(err.errors.length, 1, err.message);
  const e = err.errors[0]!;
  return { code: e.code, message: e.message, ...e.location };
}

const endpoint = (id: string, ip: string, zone: Buffer): Buffer =>
  Buffer.concat([Buffer.from(`  - id: ${id}\n    address: ${ip}\n    port: 80\n    locality: {zone: "`), zone, Buffer.from('"}\n')]);

test('a Latin-1 file (two zones that differ only in an accented letter) is refused at the first byte that is not UTF-8', async () => {
  const latin1 = Buffer.concat([
    Buffer.from('spread: zone\nendpoints:\n'),
    endpoint('a', '10.0.0.1', Buffer.from([0x7a, 0xe9])), // "zé" in Latin-1
    endpoint('b', '10.0.0.2', Buffer.from([0x7a, 0xe8])), // "zè" in Latin-1
  ]);
  await withFile(latin1, async (file) => {
    for (const read of [() => loadConfigFile(file), () => readConfigText(file)]) {
      await assert.rejects(read(), (err: unknown) => {
        const e = onlyError(err);
        assert.equal(e.code, 'CONFIG_PARSE');
        assert.equal(e.line, 6);
        assert.equal(e.column, 24, e.message);
        assert.match(e.message, /not valid UTF-8: byte 0xe9 at line 6, column 24/);
        return true;
      });
    }
  });
});

test('a UTF-16 file is named as such', async () => {
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('endpoints: []\n', 'utf16le')]);
  await withFile(utf16, async (file) => {
    await assert.rejects(loadConfigFile(file), (err: unknown) => {
      const e = onlyError(err);
      assert.equal(e.code, 'CONFIG_PARSE');
      assert.match(e.message, /UTF-16/);
      return true;
    });
  });
});

test('UTF-8 text, with or without a byte order mark, is read as written', async () => {
  const text = 'endpoints:\n  - id: a\n    address: 10.0.0.1\n    port: 80\n    locality: {zone: "zé 東京 \u{1F600}"}\n';
  for (const bytes of [Buffer.from(text), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])]) {
    await withFile(bytes, async (file) => {
      const cfg = await loadConfigFile(file);
      assert.equal(cfg.topology.endpoints[0]!.locality.zone, 'zé 東京 \u{1F600}');
    });
  }
});
