/**
 * `keyway lookup KEY` (docs/cli.md): `GET /v1/lookup?key=KEY`: the shard of a key by hash contract 1
 * (with the `{tag}` rule, shown when it applies) and its owners, primary first.
 */
import { hashTag } from '../../sharding/key-to-shard.js';
import type { LookupBody } from '../../admin/api-types.js';
import { LOOKUP_SHAPE } from './body-shape.js';
import { type CommandIo, type OutputFormat, printJson } from './options.js';
import type { RestClient } from './rest-client.js';
import { renderFields } from './table.js';

/**
 * `keyway lookup KEY` (docs/cli.md), resolving with the exit status. The shard and owners are the
 * server's answer; the hash tag is derived locally only to explain it.
 */
export async function lookupCommand(api: RestClient, key: string, output: OutputFormat, io: CommandIo): Promise<number> {
  const { body } = await api.get<LookupBody>(`v1/lookup?${new URLSearchParams({ key }).toString()}`, LOOKUP_SHAPE);
  if (output === 'json') {
    printJson(io, body);
    return 0;
  }
  const tag = hashTag(key);
  const owners = body.owners ?? [];
  io.out(
    renderFields([
      ['key', JSON.stringify(body.key)],
      ...(tag !== key ? [['hash tag', `${JSON.stringify(tag)} (only the part inside {...} is hashed)`] as const] : []),
      ['shard', String(body.shard)],
      ['primary', owners[0] ?? '(none: no ready endpoint owns this shard)'],
      ['replicas', owners.length > 1 ? owners.slice(1).join(', ') : '-'],
      // A hot shard (docs/hot-shards.md): its first `readers` owners share its requests.
      ...((body.readers ?? 1) > 1 ? [['readers', `${body.readers}: ${owners.slice(0, body.readers).join(', ')}`] as const] : []),
      ...(body.hotShard ? [['hot shard', `${body.hotShard.reason}: ${body.hotShard.explanation}`] as const] : []),
      ['version', body.version],
    ]),
  );
  return 0;
}
