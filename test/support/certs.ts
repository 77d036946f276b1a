/**
 * A throwaway PKI for the TLS tests, made with the `openssl` command in a temporary directory: a
 * CA, server certificates for 127.0.0.1, and client certificates naming whatever node ids a test
 * needs (DNS and URI SANs, CN), plus certificates from a second CA that keyway must not trust.
 * EC P-256 keys, valid two days: quick to make, accepted by Envoy (BoringSSL) and Node (OpenSSL).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Paths of one certificate and its key. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface LeafOptions {
  readonly cn: string;
  readonly dns?: readonly string[];
  readonly uri?: readonly string[];
  readonly ip?: readonly string[];
}

export interface TestCa {
  /** The CA certificate (PEM), what a peer trusts. */
  readonly cert: string;
  /** Issues a certificate usable as server and client (serverAuth, clientAuth). */
  issue(name: string, leaf: LeafOptions): CertFiles;
}

export interface TestPki {
  readonly dir: string;
  /** Makes a CA in the directory. */
  ca(name: string): TestCa;
  /** Removes the directory (unless KEYWAY_E2E_KEEP=1). */
  cleanup(): void;
}

/** Skip reason for node:test when `openssl` is missing (or an error with KEYWAY_REQUIRE_E2E=1). */
export function opensslSkipReason(): string | undefined {
  const r = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (r.status === 0) return undefined;
  const reason = 'the openssl command is not available';
  if (process.env.KEYWAY_REQUIRE_E2E === '1') throw new Error(`${reason}; KEYWAY_REQUIRE_E2E=1 requires it`);
  return reason;
}

function openssl(args: readonly string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

/** A new PKI directory under the system temp dir. */
export function makePki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), 'keyway-pki-'));
  return {
    dir,
    ca(name) {
      const key = path.join(dir, `${name}.key`);
      const cert = path.join(dir, `${name}.crt`);
      openssl(
        ['req', '-x509', ...EC_KEY, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
          '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
        dir,
      );
      return {
        cert,
        issue(leafName, leaf) {
          const leafKey = path.join(dir, `${leafName}.key`);
          const csr = path.join(dir, `${leafName}.csr`);
          const leafCert = path.join(dir, `${leafName}.crt`);
          const ext = path.join(dir, `${leafName}.ext`);
          const sans = [...(leaf.dns ?? []).map((d) => `DNS:${d}`), ...(leaf.uri ?? []).map((u) => `URI:${u}`), ...(leaf.ip ?? []).map((i) => `IP:${i}`)];
          writeFileSync(
            ext,
            ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth,clientAuth', ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : [])].join('\n') + '\n',
          );
          openssl(['req', ...EC_KEY, '-keyout', leafKey, '-out', csr, '-subj', `/CN=${leaf.cn}`], dir);
          openssl(['x509', '-req', '-in', csr, '-CA', cert, '-CAkey', key, '-CAcreateserial', '-out', leafCert, '-days', '2', '-extfile', ext], dir);
          return { cert: leafCert, key: leafKey };
        },
      };
    },
    cleanup() {
      if (process.env.KEYWAY_E2E_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
    },
  };
}
