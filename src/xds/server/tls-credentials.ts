/**
 * The xDS server's TLS credentials (docs/security.md "TLS and mTLS for xDS"): the server
 * certificate and key (`--xds-tls-cert`, `--xds-tls-key`) and, for mTLS, the CA that client
 * certificates must chain to (`--xds-tls-client-ca`; a client without a valid certificate fails
 * the handshake). The files, regular files of at most MAX_XDS_TLS_FILE_BYTES (src/config/bounded-file.ts), are
 * read at start (a missing, mismatched or refused file stops the start) and
 * polled afterwards, so a rotated certificate (a Kubernetes Secret updated by cert-manager) is used
 * for new connections without a restart; a rotation that cannot be loaded, or brings an expired
 * certificate, is logged and the previous certificate stays in use.
 */
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { envLimit } from '../../core/env-limit.js';
import { readBoundedFile, UnreadableFileError } from '../../config/bounded-file.js';

/** Where the xDS server's certificate files are (`keyway serve --xds-tls-*`). */
export interface XdsTlsSettings {
  /** PEM server certificate chain. */
  readonly certFile: string;
  /** PEM private key of `certFile`. */
  readonly keyFile: string;
  /** PEM CA bundle for client certificates; set, it turns on mTLS and the node-id rule. */
  readonly clientCaFile?: string;
  /** With mTLS: patterns a client certificate's SAN or CN must match (see peer-identity.ts). */
  readonly allowedSans?: readonly string[];
  /** How often the files are re-read (default {@link XDS_TLS_RELOAD_INTERVAL_MS}). */
  readonly reloadIntervalMs?: number;
  /** The clock certificates' expiry is judged by (ms since the epoch; default Date.now; tests move it). */
  readonly now?: () => number;
  /**
   * Time a connection has to finish its TLS handshake; default: KEYWAY_XDS_TLS_HANDSHAKE_TIMEOUT_MS
   * from the environment, else {@link XDS_TLS_HANDSHAKE_TIMEOUT_MS}. Read here because `keyway serve`
   * passes the TLS settings only the flags.
   */
  readonly handshakeTimeoutMs?: number;
}

/** Default poll interval of the certificate files: well inside any certificate's renewal window. */
export const XDS_TLS_RELOAD_INTERVAL_MS = 60_000;

/**
 * Largest certificate, key or CA bundle file read, in bytes (1 MiB; a whole public CA bundle is
 * some 200 KiB). Past it the file is refused naming it, as a file that does not load: a wrong
 * path is not read into memory.
 */
export const MAX_XDS_TLS_FILE_BYTES = 1_048_576;

/**
 * Time a connection has to finish its TLS handshake, in ms; then it is closed. Node's default is
 * 120 s, and until the handshake ends grpc-js has no session to apply its own limits to (the
 * connection idle time, the streams' caps), so a client that connects and sends nothing held a
 * socket and its TLS state for two minutes; many such clients held many. A handshake takes a few
 * round trips (with mTLS, one more), so 10 s is ample even across regions or under load.
 */
export const XDS_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** The variable `keyway serve` reads XDS_TLS_HANDSHAKE_TIMEOUT_MS's override from. */
export const XDS_TLS_HANDSHAKE_TIMEOUT_ENV = 'KEYWAY_XDS_TLS_HANDSHAKE_TIMEOUT_MS';

/**
 * XDS_TLS_HANDSHAKE_TIMEOUT_MS, or its override from `env` (a positive integer of ms, at most
 * MAX_TIMER_MS, as for the other KEYWAY_XDS_* limits).
 * @throws KeywayError BAD_ARGUMENT naming the variable
 */
export function xdsTlsHandshakeTimeoutMsFromEnv(env: NodeJS.ProcessEnv): number {
  return envLimit(env, XDS_TLS_HANDSHAKE_TIMEOUT_ENV, XDS_TLS_HANDSHAKE_TIMEOUT_MS, { ms: true });
}

/** The server credentials and what keeps them fresh. */
export interface XdsTlsCredentials {
  readonly credentials: ServerCredentials;
  /**
   * The server certificate being served (the last set that loaded, not what the files hold): its
   * validity, for a gauge operators alert on before it expires.
   */
  served(): ServedCertificate;
  /** Re-reads the files now; resolves true when new material was loaded. */
  reload(): Promise<boolean>;
  /** Stops polling the files. */
  close(): void;
}

/** The validity of the server certificate in use, ms since the epoch (NaN where the date does not parse). */
export interface ServedCertificate {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

interface Material {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca: Buffer | undefined;
}

/**
 * grpc-js server credentials whose secure context can be replaced: grpc-js applies an update to
 * its listening servers (`setSecureContext`), so new handshakes use it and open connections stay.
 */
class ReloadableServerCredentials extends ServerCredentials {
  constructor(mutualTls: boolean, material: Material, handshakeTimeoutMs: number) {
    // rejectUnauthorized with requestCert: a client whose certificate the CA does not verify fails the handshake.
    // grpc-js passes these options on to http2.createSecureServer, hence to tls.Server.
    super({ requestCert: mutualTls, rejectUnauthorized: mutualTls, handshakeTimeout: handshakeTimeoutMs }, contextOptions(material));
  }

  replace(material: Material): void {
    this.updateSecureContextOptions(contextOptions(material));
  }

  _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}

function contextOptions(m: Material): SecureContextOptions {
  return { cert: m.cert, key: m.key, ...(m.ca ? { ca: m.ca } : {}) };
}

/**
 * Reads and checks the files and returns credentials for `Server.bindAsync`.
 * @throws KeywayError BAD_ARGUMENT when KEYWAY_XDS_TLS_HANDSHAKE_TIMEOUT_MS is malformed
 * @throws Error naming the file when one cannot be read, is not PEM, the key does not match, or
 * the certificate has expired
 */
export async function loadXdsTlsCredentials(settings: XdsTlsSettings, logger: Logger): Promise<XdsTlsCredentials> {
  const now = settings.now ?? Date.now;
  const handshakeTimeoutMs = settings.handshakeTimeoutMs ?? xdsTlsHandshakeTimeoutMsFromEnv(process.env);
  let current = await readMaterial(settings);
  refuseExpired(settings, current, now());
  const log = logger.child({ tls: { cert: settings.certFile, clientCa: settings.clientCaFile ?? null } });
  logCertificate(log, current, 'xDS TLS certificate loaded');
  const credentials = new ReloadableServerCredentials(settings.clientCaFile !== undefined, current, handshakeTimeoutMs);
  let failing = false;
  let expiryLogged = false;
  // Parsed once per certificate loaded: a gauge reads it at every scrape.
  let served = servedCertificate(current);

  const reload = async (): Promise<boolean> => {
    const loaded = await loadFiles();
    // The certificate still served, judged apart from what the files hold: its expiry is said once
    // even while a rotation is refused (an older expired Secret restored) or the files cannot be read.
    const inUseExpiry = expiredError(settings, current, now(), true);
    if (inUseExpiry && !expiryLogged) log.error({ err: inUseExpiry }, `the xDS TLS certificate in use has expired: ${inUseExpiry.message}`);
    expiryLogged = inUseExpiry !== undefined;
    return loaded;
  };
  const loadFiles = async (): Promise<boolean> => {
    let next: Material;
    try {
      next = await readMaterial(settings);
      // The certificate served, unchanged (a client CA rotation), is no reason to refuse the files.
      const refused = next.cert.equals(current.cert) ? undefined : expiredError(settings, next, now(), false);
      if (refused) throw refused;
    } catch (err) {
      // Logged once per failure run, not every poll; the certificate in use keeps serving.
      if (!failing) log.error({ err }, `cannot reload the xDS TLS files; the previous certificate stays in use: ${(err as Error).message}`);
      failing = true;
      return false;
    }
    failing = false;
    if (sameMaterial(next, current)) return false;
    current = next;
    served = servedCertificate(next);
    credentials.replace(next);
    logCertificate(log, next, 'xDS TLS certificate reloaded');
    return true;
  };
  const timer = setInterval(() => void reload(), settings.reloadIntervalMs ?? XDS_TLS_RELOAD_INTERVAL_MS);
  timer.unref();
  return { credentials, served: () => served, reload, close: () => clearInterval(timer) };
}

async function readMaterial(s: XdsTlsSettings): Promise<Material> {
  const read = async (flag: string, file: string): Promise<Buffer> => {
    try {
      // A regular file only: a FIFO hung the start past SIGTERM, a device was read without end.
      return await readBoundedFile(file, { maxBytes: MAX_XDS_TLS_FILE_BYTES, limitName: 'MAX_XDS_TLS_FILE_BYTES', allowPipe: false });
    } catch (err) {
      // Its message is whole; as a cause, the log would say it twice.
      if (err instanceof UnreadableFileError) throw new Error(`${flag} ${file}: ${err.message}`);
      throw new Error(`${flag} ${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  };
  const [cert, key, ca] = await Promise.all([
    read('--xds-tls-cert', s.certFile),
    read('--xds-tls-key', s.keyFile),
    s.clientCaFile !== undefined ? read('--xds-tls-client-ca', s.clientCaFile) : Promise.resolve(undefined),
  ]);
  checkPemCertificates('--xds-tls-cert', s.certFile, cert);
  if (ca) checkPemCertificates('--xds-tls-client-ca', s.clientCaFile!, ca);
  try {
    // Builds the context once: a key that does not match the certificate fails here, not at the first handshake.
    createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
  } catch (err) {
    throw new Error(`--xds-tls-cert ${s.certFile} and --xds-tls-key ${s.keyFile}: ${(err as Error).message}`, { cause: err });
  }
  return { cert, key, ca };
}

/** One whole PEM block: its BEGIN line, a body holding no `-----` (no other block), its END line. */
const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----(?:(?!-----)[\s\S])*-----END \1-----/g;

/**
 * Checks that `pem` holds certificates and that every PEM block in it is whole and every
 * certificate parses. OpenSSL loads the blocks of a bundle up to one cut short and drops the rest
 * without an error, so a client CA bundle (or a chain) caught half-written was taken: keyway then
 * trusted only the CAs before the cut and refused the clients of the others until the next poll.
 * @throws Error naming the flag and file
 */
function checkPemCertificates(flag: string, file: string, pem: Buffer): void {
  const text = pem.toString('latin1');
  const whole = [...text.matchAll(PEM_BLOCK)];
  // Outside the whole blocks, a line starting with a dash is a block cut short (its BEGIN line, or
  // a block without its END line); other text (openssl's "Bag Attributes") is ignored, as by OpenSSL.
  if (/^[ \t]*-/m.test(text.replace(PEM_BLOCK, ''))) {
    throw new Error(`${flag} ${file}: a PEM block is cut short (a file caught half-written?)`);
  }
  const certs = whole.filter((m) => m[1] === 'CERTIFICATE');
  if (certs.length === 0) throw new Error(`${flag} ${file}: not a PEM certificate: no whole CERTIFICATE block`);
  certs.forEach((m, i) => {
    try {
      new X509Certificate(m[0]);
    } catch (err) {
      throw new Error(`${flag} ${file}: not a PEM certificate: certificate ${i + 1}: ${(err as Error).message}`, { cause: err });
    }
  });
}

/**
 * Refuses a server certificate past its expiry: at start it stops the start, and a rotation to one
 * (a Secret restored from an old backup) keeps the certificate in use instead of replacing a valid
 * certificate by one every client refuses. Loaded, an expired certificate failed each new
 * handshake with nothing in keyway's log. The not-before date is not checked: a fresh certificate
 * may start a few seconds ahead of this clock, and refusing it would hold a rotation back a whole
 * poll, or stop a start.
 * @throws Error naming the flag, file and date
 */
function refuseExpired(s: XdsTlsSettings, m: Material, nowMs: number): void {
  const err = expiredError(s, m, nowMs, false);
  if (err) throw err;
}

/**
 * The error naming the flag, file and date when `m`'s server certificate is past its notAfter;
 * undefined when it is not, or when the date does not parse (nothing to judge it by).
 * `inUse`: it is the certificate being served, rather than one the files bring.
 */
function expiredError(s: XdsTlsSettings, m: Material, nowMs: number, inUse: boolean): Error | undefined {
  const validTo = new X509Certificate(m.cert).validTo;
  const expiresMs = Date.parse(validTo);
  if (!(expiresMs <= nowMs)) return undefined;
  const what = inUse ? 'the certificate in use expired' : 'the certificate expired';
  const then = inUse ? 'TLS clients refuse new connections until the file holds a renewed certificate' : 'TLS clients would refuse it; renew it';
  return new Error(`--xds-tls-cert ${s.certFile}: ${what} on ${validTo}: ${then}`);
}

function servedCertificate(m: Material): ServedCertificate {
  const x = new X509Certificate(m.cert);
  return { notBeforeMs: Date.parse(x.validFrom), notAfterMs: Date.parse(x.validTo) };
}

function sameMaterial(a: Material, b: Material): boolean {
  return a.cert.equals(b.cert) && a.key.equals(b.key) && (a.ca === undefined ? b.ca === undefined : b.ca !== undefined && a.ca.equals(b.ca));
}

function logCertificate(log: Logger, m: Material, msg: string): void {
  const x = new X509Certificate(m.cert);
  log.info({ subject: x.subject.replace(/\n/g, ', '), subjectAltName: x.subjectAltName ?? null, validTo: x.validTo, mutualTls: m.ca !== undefined }, msg);
}
