/**
 * Who may speak for a node id over xDS under mTLS (docs/security.md "TLS and mTLS for xDS"): the
 * identities of a stream's verified client certificate, and the admission rule that binds a
 * stream's node id to them. A certificate names a node when its node id equals one of its URI
 * SANs, one of its DNS SANs, or its subject CN; an optional allow-list of SAN patterns narrows
 * which certificates may connect at all.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { ProtocolError, type StreamPeer } from './session.js';

/** The part of a grpc-js call this module reads (`ServerSurfaceCall`), so unary and streaming calls both fit. */
export interface CallWithPeer {
  getPeer(): string;
  getAuthContext(): { readonly transportSecurityType?: string; readonly sslPeerCertificate?: PeerCertificate };
}

/**
 * The peer of a call: its address and, when the connection presented a client certificate the
 * server verified (grpc-js `getAuthContext()`), that certificate's identities.
 */
export function streamPeer(call: CallWithPeer): StreamPeer {
  const cert = call.getAuthContext().sslPeerCertificate;
  return cert ? { address: call.getPeer(), identities: certificateIdentities(cert) } : { address: call.getPeer() };
}

/**
 * A certificate's identities, in the order the node-id rule tries them: URI SANs, DNS SANs, then
 * the subject CN. Other SAN kinds (IP addresses, email) name no node and are left out.
 */
export function certificateIdentities(cert: Pick<PeerCertificate, 'subjectaltname' | 'subject'>): string[] {
  const uris: string[] = [];
  const dns: string[] = [];
  for (const [kind, value] of subjectAltNames(cert.subjectaltname ?? '')) {
    if (kind === 'URI') uris.push(value);
    else if (kind === 'DNS') dns.push(value);
  }
  const cn = cert.subject?.CN;
  const cns = cn === undefined ? [] : Array.isArray(cn) ? (cn as string[]) : [cn];
  return [...new Set([...uris, ...dns, ...cns])];
}

/**
 * Splits Node's `subjectaltname` string (`DNS:a, URI:spiffe://x/y, IP Address:1.2.3.4`). Node
 * writes a value that holds a comma or quote as a JSON string (CVE-2021-44532), so those are
 * decoded rather than split.
 */
function subjectAltNames(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const entry = /(?:^|, )([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)/g;
  for (let m = entry.exec(text); m !== null; m = entry.exec(text)) {
    const raw = m[2]!;
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        continue; // not a name this rule can match
      }
    }
    out.push([m[1]!, value]);
  }
  return out;
}

/** The mTLS admission settings (`--xds-tls-allowed-sans`). */
export interface NodeAdmissionOptions {
  /**
   * Patterns a certificate identity must match before any node id is considered; `*` matches any
   * run of characters (`spiffe://cluster.local/ns/cache/sa/*`). Empty or absent: any certificate
   * the client CA verified.
   */
  readonly allowedSans?: readonly string[];
}

/**
 * The `SessionContext.admit` rule under mTLS: the peer must hold a verified client certificate,
 * one of its identities must match the allow-list (when one is set), and the node id must equal
 * one of its identities. Otherwise a ProtocolError ends the stream: UNAUTHENTICATED without a
 * certificate, PERMISSION_DENIED for a certificate that does not name the node (an impersonation).
 */
export function nodeIdAdmission(opts: NodeAdmissionOptions = {}): (nodeId: string, peer: StreamPeer) => void {
  const allowed = (opts.allowedSans ?? []).map(globMatcher);
  return (nodeId, peer) => {
    const ids = peer.identities;
    if (!ids || ids.length === 0) {
      throw new ProtocolError(GrpcStatus.UNAUTHENTICATED, `UNAUTHENTICATED: node ${quoted(nodeId)}: no verified client certificate with a URI or DNS SAN or a CN; mTLS is required`);
    }
    if (allowed.length > 0 && !ids.some((id) => allowed.some((matches) => matches(id)))) {
      throw new ProtocolError(
        GrpcStatus.PERMISSION_DENIED,
        `UNAUTHENTICATED: node ${quoted(nodeId)}: client certificate ${listed(ids)} matches no --xds-tls-allowed-sans pattern`,
      );
    }
    if (!ids.includes(nodeId)) {
      throw new ProtocolError(
        GrpcStatus.PERMISSION_DENIED,
        `UNAUTHENTICATED: node id ${quoted(nodeId)} is not named by the client certificate (its URI SANs, DNS SANs and CN: ${listed(ids)})`,
      );
    }
  };
}

/**
 * How much of a node id and of a certificate's identities a refusal quotes. The message is the
 * gRPC status (a trailer, which some clients cap: gRPC C-core at 8 KiB of metadata by default)
 * and a log line per refused stream, while a node id may hold 2048 characters and a certificate
 * any number of SANs; as `/readyz` does, 200 characters of each, and the first identities.
 */
const QUOTED_CHARS = 200;
const LISTED_IDENTITIES = 8;

/** `text` as a JSON string (a quote or control character in it stays readable), cut to QUOTED_CHARS. */
function quoted(text: string): string {
  return text.length <= QUOTED_CHARS ? JSON.stringify(text) : `${JSON.stringify(text.slice(0, QUOTED_CHARS))}… (${text.length} characters, cut)`;
}

/** The first LISTED_IDENTITIES identities, each quoted; the count of the rest. */
function listed(ids: readonly string[]): string {
  const shown = ids.slice(0, LISTED_IDENTITIES).map(quoted).join(', ');
  return ids.length <= LISTED_IDENTITIES ? `[${shown}]` : `[${shown}, and ${ids.length - LISTED_IDENTITIES} more]`;
}

/**
 * `*` matches any run of characters (line breaks too); everything else is literal. Matched by
 * finding each literal part in turn, leftmost first, which is exact for `*`-only globs and costs
 * at most the identity's length times the pattern's. A regular expression (`^a.*b.*c$`) backtracked
 * polynomially: `*-*-*-*.example` against a SAN of 500 dashes held the event loop 5 s, 1000 dashes
 * 85 s, and the SAN is written by whoever the CA signed for, the parties the allow-list keeps out.
 */
export function globMatcher(pattern: string): (text: string) => boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return (text) => text === pattern;
  const head = parts[0]!;
  const tail = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1).filter((part) => part !== '');
  return (text) => {
    if (text.length < head.length + tail.length || !text.startsWith(head) || !text.endsWith(tail)) return false;
    const end = text.length - tail.length;
    let at = head.length;
    for (const part of middle) {
      const found = text.indexOf(part, at);
      if (found < 0 || found + part.length > end) return false;
      at = found + part.length;
    }
    return true;
  };
}
