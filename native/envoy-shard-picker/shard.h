/* keyway hash contract 1 (docs/hashing.md): key -> shard, and the x-cache-shard syntax. */
#ifndef KEYWAY_SHARD_H
#define KEYWAY_SHARD_H
#include <stddef.h>
#include <stdint.h>

/* MurmurHash3 x86_32 of n bytes. */
uint32_t kw_murmur3_32(const uint8_t *data, size_t n, uint32_t seed);

/* The Redis Cluster hash tag of a key: sets *tag and *tag_len to the text between the first '{' and
 * the first '}' after it when that text is not empty, else to the whole key. */
void kw_hash_tag(const char *key, size_t len, const char **tag, size_t *tag_len);

/* murmur3_x86_32(tag(key), seed 0) mod shards. */
uint32_t kw_key_to_shard(const char *key, size_t len, uint32_t shards);

/* A canonical decimal (0 or [1-9][0-9]*) below shards: returns 1 and sets *shard, else 0. */
int kw_parse_shard(const char *v, size_t len, uint32_t shards, uint32_t *shard);

#endif
