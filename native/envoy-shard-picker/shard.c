/* keyway hash contract 1, written from the specification in docs/hashing.md. */
#include "shard.h"

static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

uint32_t kw_murmur3_32(const uint8_t *data, size_t n, uint32_t seed) {
  const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
  uint32_t h = seed;
  size_t blocks = n / 4;
  for (size_t i = 0; i < blocks; i++) {
    const uint8_t *p = data + 4 * i;
    uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    k *= c1;
    k = rotl32(k, 15);
    k *= c2;
    h ^= k;
    h = rotl32(h, 13);
    h = h * 5 + 0xe6546b64u;
  }
  const uint8_t *tail = data + 4 * blocks;
  uint32_t k = 0;
  switch (n & 3) {
  case 3:
    k ^= (uint32_t)tail[2] << 16;
    /* fall through */
  case 2:
    k ^= (uint32_t)tail[1] << 8;
    /* fall through */
  case 1:
    k ^= tail[0];
    k *= c1;
    k = rotl32(k, 15);
    k *= c2;
    h ^= k;
  }
  h ^= (uint32_t)n;
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h;
}

void kw_hash_tag(const char *key, size_t len, const char **tag, size_t *tag_len) {
  *tag = key;
  *tag_len = len;
  size_t open = 0;
  while (open < len && key[open] != '{') open++;
  if (open == len) return;
  size_t close = open + 1;
  while (close < len && key[close] != '}') close++;
  if (close == len || close == open + 1) return;
  *tag = key + open + 1;
  *tag_len = close - open - 1;
}

uint32_t kw_key_to_shard(const char *key, size_t len, uint32_t shards) {
  const char *tag;
  size_t tag_len;
  kw_hash_tag(key, len, &tag, &tag_len);
  return kw_murmur3_32((const uint8_t *)tag, tag_len, 0) % shards;
}

int kw_parse_shard(const char *v, size_t len, uint32_t shards, uint32_t *shard) {
  /* Ten digits already exceed any 32-bit S; reject before the value can overflow. */
  if (len == 0 || len > 10 || (v[0] == '0' && len > 1)) return 0;
  uint64_t x = 0;
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9') return 0;
    x = x * 10 + (uint64_t)(v[i] - '0');
  }
  if (x >= shards) return 0;
  *shard = (uint32_t)x;
  return 1;
}
