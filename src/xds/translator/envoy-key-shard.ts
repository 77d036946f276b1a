/**
 * Envoy only: the Lua filter that lets a client send its cache key instead of a shard number
 * (docs/xds.md "Key to shard in Envoy"). It runs before header_to_metadata and, per request:
 * - `x-cache-shard` present: checks that it is a canonical decimal integer in [0, S) (`0` or
 *   `[1-9][0-9]*`), else answers 400 `x-cache-shard must be an integer in [0, S)`; a valid value is
 *   left untouched and wins over the key (a request that carries the header normally never runs
 *   the filter: its route disables it, envoy-routes.ts; the check stays for a route table that
 *   has not caught up with the listener);
 * - otherwise, the key header (`routing.keyHeader`) present: computes hash contract 1
 *   (`murmur3_x86_32(utf8(tag(key)), seed 0) mod S`, docs/hashing.md) and sets `x-cache-shard`;
 * - neither: nothing (the route and the cluster apply `envoy.missingHeader`).
 * S and the header names are written into the script, so the listener changes only when S or
 * `routing.keyHeader` does, never with ownership.
 *
 * The script is LuaJIT (what Envoy embeds): numbers are doubles, so 32-bit arithmetic goes through
 * the `bit` module (results are signed int32), and multiplication mod 2^32 is done in 16-bit halves
 * so no intermediate product exceeds 2^53. Lua strings are bytes, and Envoy hands header values
 * over as their bytes, which are the UTF-8 the contract hashes.
 */
import { create } from '@bufbuild/protobuf';
import { anyPack, type Any } from '@bufbuild/protobuf/wkt';
import { FilterConfigSchema, HttpFilterSchema, LuaPerRouteSchema, LuaSchema, type HttpFilter } from '../proto.js';
import { LUA_FILTER, SHARD_HEADER } from './names.js';

/** The body of Envoy's 400 for a bad `x-cache-shard` (either missingHeader mode). */
export function badShardMessage(shardCount: number): string {
  return `${SHARD_HEADER} must be an integer in [0, ${shardCount})\n`;
}

/** The body of Envoy's 400 when the key header is sent more than once. */
export function repeatedKeyMessage(keyHeader: string): string {
  return `${keyHeader} must be sent once\n`;
}

/** The body of Envoy's 400 when a binary (`-bin`) key header is not base64 (the endpoint picker's words too). */
export function badBinaryKeyMessage(keyHeader: string): string {
  return `${keyHeader} must be base64 (gRPC binary metadata)\n`;
}

/**
 * For a key header named `*-bin` (gRPC binary metadata, base64 on the wire): the decoder, and the
 * step that turns the header's text into the key's bytes, as the shard pickers receive them.
 * Empty for any other header, so its script (and the listener) stays as it was.
 *
 * The decoder takes 16 characters a step, one `string.char` per 12 bytes: a character a step took
 * 3.5 ms of LuaJIT for a 60 KiB value (Envoy's header limit), this takes 0.25 ms, the order of
 * hashing the key (docs/benchmarks.md). 32 a step was a quarter faster again but 48 four times
 * slower (LuaJIT's compiled code gave up), so 16 keeps a margin on other LuaJIT builds. It accepts and
 * refuses exactly what the character-a-step decoder did, and what the endpoint picker does
 * (test/xds/translator/key-shard-lua-base64.test.ts).
 */
function binaryKeyLua(keyHeader: string): { readonly decoder: string; readonly decode: string } {
  if (!keyHeader.endsWith('-bin')) return { decoder: '', decode: '' };
  const decoder = `local BAD_BINARY_KEY = ${luaString(badBinaryKeyMessage(keyHeader))}
local char, concat = string.char, table.concat
local B64 = {}
for i = 1, 64 do B64[byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", i)] = i - 1 end

-- Base64, padded (grpc-js) or not (grpc-go), standard alphabet only; nil when s is not base64.
-- Bits past the last whole byte are dropped, not checked. 16 characters (12 bytes, one string) a
-- step, then 4 a step, then the last 2 or 3.
function unbase64(s)
  local n = #s
  if sub(s, -2) == "==" then n = n - 2 elseif sub(s, -1) == "=" then n = n - 1 end
  if (n < #s and #s % 4 ~= 0) or n % 4 == 1 then return nil end
  local out, k = {}, 0
  local wide, whole = n - n % 16, n - n % 4
  for i = 1, wide, 16 do
    local a1, b1, c1, d1, a2, b2, c2, d2, a3, b3, c3, d3, a4, b4, c4, d4 = byte(s, i, i + 15)
    a1, b1, c1, d1 = B64[a1], B64[b1], B64[c1], B64[d1]
    a2, b2, c2, d2 = B64[a2], B64[b2], B64[c2], B64[d2]
    a3, b3, c3, d3 = B64[a3], B64[b3], B64[c3], B64[d3]
    a4, b4, c4, d4 = B64[a4], B64[b4], B64[c4], B64[d4]
    if not (a1 and b1 and c1 and d1 and a2 and b2 and c2 and d2 and a3 and b3 and c3 and d3 and a4 and b4 and c4 and d4) then return nil end
    local x1 = a1 * 262144 + b1 * 4096 + c1 * 64 + d1
    local x2 = a2 * 262144 + b2 * 4096 + c2 * 64 + d2
    local x3 = a3 * 262144 + b3 * 4096 + c3 * 64 + d3
    local x4 = a4 * 262144 + b4 * 4096 + c4 * 64 + d4
    k = k + 1
    out[k] = char(rshift(x1, 16), band(rshift(x1, 8), 255), band(x1, 255),
      rshift(x2, 16), band(rshift(x2, 8), 255), band(x2, 255),
      rshift(x3, 16), band(rshift(x3, 8), 255), band(x3, 255),
      rshift(x4, 16), band(rshift(x4, 8), 255), band(x4, 255))
  end
  for i = wide + 1, whole, 4 do
    local a, b, c, d = byte(s, i, i + 3)
    a, b, c, d = B64[a], B64[b], B64[c], B64[d]
    if not (a and b and c and d) then return nil end
    local x = a * 262144 + b * 4096 + c * 64 + d
    k = k + 1
    out[k] = char(rshift(x, 16), band(rshift(x, 8), 255), band(x, 255))
  end
  if n > whole then
    -- 2 characters hold 1 byte (12 bits), 3 hold 2 (18 bits).
    local a, b, c = byte(s, whole + 1, n)
    a, b = B64[a], B64[b]
    if not (a and b) then return nil end
    k = k + 1
    if c == nil then
      out[k] = char(rshift(a * 64 + b, 4))
    else
      c = B64[c]
      if c == nil then return nil end
      local x = a * 4096 + b * 64 + c
      out[k] = char(rshift(x, 10), band(rshift(x, 2), 255))
    end
  end
  return concat(out, "", 1, k)
end

`;
  const decode = `  -- gRPC binary metadata: the key is the decoded bytes, as the shard pickers hash them.
  key = unbase64(key)
  if key == nil then
    bad_request(handle, BAD_BINARY_KEY)
    return
  end
`;
  return { decoder, decode };
}

/** A Lua string literal (JSON's escapes are Lua's for the ASCII text keyway puts here). */
function luaString(s: string): string {
  return JSON.stringify(s);
}

/**
 * The Lua source of the key-to-shard filter for S = `shardCount` and the key header `keyHeader`.
 * Deterministic: the same settings give the same bytes.
 */
export function keyShardLuaScript(shardCount: number, keyHeader: string): string {
  const binary = binaryKeyLua(keyHeader);
  return `-- keyway: key to shard (hash contract 1, docs/hashing.md) for S = ${shardCount}. Generated; do not edit.
local bit = require("bit")
local band, bxor, rol, lshift, rshift, tobit = bit.band, bit.bxor, bit.rol, bit.lshift, bit.rshift, bit.tobit
local byte, find, sub = string.byte, string.find, string.sub

local SHARDS = ${shardCount}
local MAX_DIGITS = ${String(shardCount - 1).length}
local SHARD_HEADER = ${luaString(SHARD_HEADER)}
local KEY_HEADER = ${luaString(keyHeader)}
local BAD_SHARD = ${luaString(badShardMessage(shardCount))}
local REPEATED_KEY = ${luaString(repeatedKeyMessage(keyHeader))}
local C1, C2 = tobit(0xcc9e2d51), tobit(0x1b873593)
local F1, F2 = tobit(0x85ebca6b), tobit(0xc2b2ae35)

-- a * b mod 2^32 as int32, from 16-bit halves: every partial product stays below 2^34.
local function mul32(a, b)
  local alo, blo = band(a, 0xffff), band(b, 0xffff)
  local cross = band(rshift(a, 16) * blo + alo * rshift(b, 16), 0xffff)
  return tobit(alo * blo + lshift(cross, 16))
end

local function scramble(k)
  return mul32(rol(mul32(k, C1), 15), C2)
end

-- MurmurHash3_x86_32 of the bytes of s, seed 0, as an unsigned number.
local function murmur3(s)
  local n = #s
  local tail = n % 4
  local h = 0
  for i = 1, n - tail, 4 do
    local b1, b2, b3, b4 = byte(s, i, i + 3)
    h = bxor(h, scramble(tobit(b1 + b2 * 256 + b3 * 65536 + b4 * 16777216)))
    h = tobit(mul32(rol(h, 13), 5) + 0xe6546b64)
  end
  if tail > 0 then
    local b1, b2, b3 = byte(s, n - tail + 1, n)
    h = bxor(h, scramble(b1 + (b2 or 0) * 256 + (b3 or 0) * 65536))
  end
  h = bxor(h, n)
  h = mul32(bxor(h, rshift(h, 16)), F1)
  h = mul32(bxor(h, rshift(h, 13)), F2)
  return bxor(h, rshift(h, 16)) % 4294967296
end

-- The Redis Cluster hash tag: the text between the first "{" and the next "}", if not empty.
local function tag(key)
  local open = find(key, "{", 1, true)
  if open then
    local close = find(key, "}", open + 1, true)
    if close and close > open + 1 then return sub(key, open + 1, close - 1) end
  end
  return key
end

${binary.decoder}function key_to_shard(key)
  return murmur3(tag(key)) % SHARDS
end

local function valid_shard(v)
  if #v > MAX_DIGITS or not (v == "0" or find(v, "^[1-9][0-9]*$")) then return false end
  return tonumber(v) < SHARDS
end

local function bad_request(handle, body)
  handle:respond({[":status"] = "400", ["content-type"] = "text/plain"}, body)
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local shard = headers:get(SHARD_HEADER)
  if shard ~= nil then
    if not valid_shard(shard) then bad_request(handle, BAD_SHARD) end
    return
  end
  local key = headers:get(KEY_HEADER)
  if key == nil then return end
  -- get() joins repeated values with ",": only a key holding one can be a repeat (one call fewer).
  if find(key, ",", 1, true) and headers:getNumValues(KEY_HEADER) > 1 then
    bad_request(handle, REPEATED_KEY)
    return
  end
${binary.decode}  headers:replace(SHARD_HEADER, tostring(key_to_shard(key)))
end
`;
}

/** The name of {@link keyShardLuaScript} among the Lua filter's `source_codes` (route-table shape). */
export const KEY_SHARD_SOURCE = 'keyway.key-to-shard';

/**
 * The Lua HTTP filter running {@link keyShardLuaScript}; it must come before header_to_metadata.
 * The script is the filter's default (the subset shape runs it on every request its routes do not
 * exempt) and also named in `source_codes`, run where a route enables it with
 * {@link keyShardLuaRouteConfig} (the route-table shape's no-match route, where the virtual host
 * turns the default off): one listener serves both shapes (envoy-listener.ts).
 */
export function keyShardLuaFilter(shardCount: number, keyHeader: string): HttpFilter {
  const source = { specifier: { case: 'inlineString' as const, value: keyShardLuaScript(shardCount, keyHeader) } };
  const config = create(LuaSchema, { defaultSourceCode: source, sourceCodes: { [KEY_SHARD_SOURCE]: source } });
  return create(HttpFilterSchema, {
    name: LUA_FILTER,
    configType: { case: 'typedConfig', value: anyPack(LuaSchema, config) },
  });
}

/** A route's or virtual host's `typed_per_filter_config` entry that keeps a filter (Lua, header_to_metadata) out of the request's chain. */
export function filterDisabled(): Any {
  return anyPack(FilterConfigSchema, create(FilterConfigSchema, { disabled: true }));
}

/**
 * A route's `typed_per_filter_config` entry that runs the named key-to-shard script there, where
 * the virtual host disables the Lua filter (Envoy takes the route's entry over the virtual host's).
 */
export function keyShardLuaRouteConfig(): Any {
  const perRoute = create(LuaPerRouteSchema, { override: { case: 'name', value: KEY_SHARD_SOURCE } });
  return anyPack(FilterConfigSchema, create(FilterConfigSchema, { config: anyPack(LuaPerRouteSchema, perRoute) }));
}
