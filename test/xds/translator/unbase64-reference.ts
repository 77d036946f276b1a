/**
 * The `-bin` key header's base64 decoder as keyway's Lua filter ran it before the 16-characters-a-
 * step decoder (src/xds/translator/envoy-key-shard.ts), kept verbatim as the reference that
 * decoder must match byte for byte: key-shard-lua-base64.test.ts runs both on generated inputs,
 * and benchmarks/lua-unbase64 times both. Renamed `unbase64_reference`, with its own locals, so it
 * loads beside the served script.
 */
export const REFERENCE_UNBASE64_LUA = `
local byte, sub = string.byte, string.sub
local B64 = {}
for i = 1, 64 do B64[byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", i)] = i - 1 end

-- Base64, padded (grpc-js) or not (grpc-go), standard alphabet only; nil when s is not base64.
function unbase64_reference(s)
  local n = #s
  if sub(s, -2) == "==" then n = n - 2 elseif sub(s, -1) == "=" then n = n - 1 end
  if (n < #s and #s % 4 ~= 0) or n % 4 == 1 then return nil end
  local out, acc, bits = {}, 0, 0
  for i = 1, n do
    local v = B64[byte(s, i)]
    if v == nil then return nil end
    acc, bits = acc * 64 + v, bits + 6
    if bits >= 8 then
      bits = bits - 8
      local b = math.floor(acc / 2 ^ bits)
      out[#out + 1] = string.char(b)
      acc = acc - b * 2 ^ bits
    end
  end
  return table.concat(out)
end
`;
