/**
 * The xDS TLS files must be regular files of bounded size (src/config/bounded-file.ts). A FIFO
 * given as --xds-tls-cert hung the start in a threadpool thread nothing could cancel (even
 * process.exit waited; only SIGKILL ended it), and a path swapped for a FIFO hung each reload; a
 * device was read without end. The FIFO cases run in a child process, killed if it hangs.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { loadXdsTlsCredentials, MAX_XDS_TLS_FILE_BYTES } from '../../../src/xds/server/tls-credentials.js';
import { makePki, opensslSkipReason, type CertFiles, type TestPki } from '../../support/certs.js';

const skip = opensslSkipReason() ?? (process.platform === 'win32' ? 'no FIFOs' : undefined);
const MODULE = new URL('../../../src/xds/server/tls-credentials.ts', import.meta.url).href;

interface ChildResult {
  readonly out: string;
  readonly hung: boolean;
}

/** Runs `body` (an ES module using `load` and `silent`) in a child; SIGKILLs it after `ms`. */
function runChild(body: string, ms: number): Promise<ChildResult> {
  const code = `import { loadXdsTlsCredentials as load } from ${JSON.stringify(MODULE)};\nimport { pino } from 'pino';\nconst silent = pino({ level: 'silent' });\n${body}\nprocess.exit(0);\n`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, ms);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve({ out, hung });
    });
  });
}

describe('xDS TLS files that are not regular files', { skip }, () => {
  let pki: TestPki;
  let leaf: CertFiles;
  let fifo: string;
  before(() => {
    pki = makePki();
    leaf = pki.ca('ca').issue('leaf', { cn: 'keyway', dns: ['localhost'] });
    fifo = path.join(pki.dir, 'tls.fifo');
    execFileSync('mkfifo', [fifo]);
  });
  after(() => pki?.cleanup());

  test('a FIFO as the certificate stops the start at once, naming the flag, file and kind', async () => {
    const r = await runChild(
      `await load({ certFile: ${JSON.stringify(fifo)}, keyFile: ${JSON.stringify(leaf.key)} }, silent).then(() => console.log('LOADED'), (e) => console.log('REFUSED ' + e.message));`,
      15_000,
    );
    assert.equal(r.hung, false, `the start hung on the FIFO (killed): ${r.out}`);
    assert.match(r.out, /REFUSED --xds-tls-cert .*tls\.fifo: must be a regular file, got a pipe \(FIFO\)/);
  });

  test('a client CA path swapped for a FIFO at run time: the reload is refused and logged, not hung', async () => {
    const caFile = path.join(pki.dir, 'swap-ca.crt');
    writeFileSync(caFile, readFileSync(path.join(pki.dir, 'ca.crt')));
    const r = await runChild(
      `const lines = [];
       const log = pino({ level: 'info' }, { write: (l) => void lines.push(l) });
       const tls = await load({ certFile: ${JSON.stringify(leaf.cert)}, keyFile: ${JSON.stringify(leaf.key)}, clientCaFile: ${JSON.stringify(caFile)}, reloadIntervalMs: 3600000 }, log);
       const { renameSync } = await import('node:fs');
       renameSync(${JSON.stringify(fifo)}, ${JSON.stringify(caFile)});
       console.log('RELOADED ' + (await tls.reload()));
       console.log(lines.filter((l) => l.includes('cannot reload')).join(''));
       tls.close();`,
      15_000,
    );
    assert.equal(r.hung, false, `the reload hung on the FIFO (killed): ${r.out}`);
    assert.match(r.out, /RELOADED false/);
    assert.match(r.out, /cannot reload the xDS TLS files; the previous certificate stays in use: --xds-tls-client-ca .*swap-ca\.crt: must be a regular file, got a pipe \(FIFO\)/);
    execFileSync('mkfifo', [fifo]); // the FIFO moved; later tests may want one
  });

  test('a device as the key is refused before it is read', async () => {
    await assert.rejects(
      loadXdsTlsCredentials({ certFile: leaf.cert, keyFile: '/dev/null' }, pino({ level: 'silent' })),
      /--xds-tls-key \/dev\/null: must be a regular file, got a character device/,
    );
  });

  test('a CA bundle past MAX_XDS_TLS_FILE_BYTES is refused, naming the limit', async () => {
    const ca = readFileSync(path.join(pki.dir, 'ca.crt'));
    const big = path.join(pki.dir, 'big-ca.crt');
    writeFileSync(big, Buffer.concat(Array.from({ length: Math.ceil(MAX_XDS_TLS_FILE_BYTES / ca.length) + 1 }, () => ca)));
    await assert.rejects(
      loadXdsTlsCredentials({ certFile: leaf.cert, keyFile: leaf.key, clientCaFile: big }, pino({ level: 'silent' })),
      /--xds-tls-client-ca .*big-ca\.crt: holds more than 1048576 bytes \(MAX_XDS_TLS_FILE_BYTES\)/,
    );
  });
});
