/**
 * The TypeScript side of the Go picker's parity tests (clients/go/shardpicker/parity_ts_test.go):
 * reads one JSON request on stdin, answers on stdout with what keyway's own code computes:
 * topologies -> the shard map's owners (hash contract 2) and the shard-picker config the
 * translator writes; keys (hex bytes) -> their shard (hash contract 1 over bytes); raw picker
 * configs -> what keyway's grpc-js reader accepts; addresses -> the grpc-js picker's socket spelling. Run from the repository root:
 * node --import tsx clients/go/shardpicker/testdata/parity/oracle.ts < request.json
 */
import { computeShardMap, keyBytesToShard } from '../../../../../src/sharding/index.js';
import { servingOwners, addressKey } from '../../../../../src/xds/translator/serving.js';
import { shardPickerConfig } from '../../../../../src/xds/translator/grpc-picker.js';
import { readShardPickerConfig } from '../../../../../src/grpc/read-config.js';
import { decodeOwners } from '../../../../../src/core/shard-picker.js';
import { canonicalAddress } from '../../../../../src/grpc/endpoint-address.js';
import type { Endpoint } from '../../../../../src/core/endpoint.js';
import type { SpreadPolicy } from '../../../../../src/core/policy.js';

interface Topology {
  shards: number;
  replicas: number;
  spread: SpreadPolicy;
  endpoints: Endpoint[];
}

interface Request {
  topologies?: Topology[];
  keys?: { hex: string; shards: number }[];
  configs?: string[];
  addresses?: string[];
}

function topology(t: Topology): unknown {
  try {
    const map = computeShardMap(t.endpoints, { shardCount: t.shards, replicas: t.replicas, spread: t.spread });
    const serving = servingOwners(map);
    const made = shardPickerConfig({
      shardCount: t.shards,
      replicas: t.replicas,
      owners: serving.owners,
      readers: serving.readers,
      endpoints: serving.endpoints,
      keyHeader: 'x-cache-key',
      missingHeader: 'reject',
    });
    const byId = new Map(map.endpoints.map((e) => [e.id, addressKey(e)]));
    return {
      owners: map.owners,
      ownerAddresses: map.owners.map((ids) => ids.map((id) => byId.get(id))),
      config: 'config' in made ? made.config : undefined,
      configError: 'error' in made ? made.error : undefined,
    };
  } catch (e) {
    return { error: `${(e as { code?: string }).code ?? 'THROWN'}: ${(e as Error).message}` };
  }
}

function config(raw: string): unknown {
  try {
    const c = readShardPickerConfig(JSON.parse(raw));
    const t = decodeOwners(c);
    return {
      ok: true,
      shardCount: c.shardCount,
      shardHeader: c.shardHeader,
      keyHeader: c.keyHeader,
      missingHeader: c.missingHeader,
      endpoints: c.endpoints.map(canonicalAddress),
      replicas: t.replicas,
      table: [...t.table],
      readers: t.readers ? [...t.readers.entries()] : [],
      weights: c.weights ?? null,
    };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => (input += chunk));
process.stdin.on('end', () => {
  const req = JSON.parse(input) as Request;
  const out = {
    topologies: (req.topologies ?? []).map(topology),
    keys: (req.keys ?? []).map((k) => keyBytesToShard(Buffer.from(k.hex, 'hex'), k.shards)),
    configs: (req.configs ?? []).map(config),
    addresses: (req.addresses ?? []).map((a) => canonicalAddress(a) ?? null),
  };
  process.stdout.write(JSON.stringify(out));
});
