/* Checks shard.c against testdata/vectors: reads lines from stdin (see the Makefile's check):
 *   m <hex bytes or -> <seed> <hash>          murmur3.json
 *   k <hex key or -> <shards> <hash> <shard>  key-to-shard.json
 * and prints the number of checks and mismatches; exits 1 on any mismatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "shard.h"

static size_t unhex(const char *s, unsigned char *out) {
  if (strcmp(s, "-") == 0) return 0;
  size_t n = strlen(s) / 2;
  for (size_t i = 0; i < n; i++) sscanf(s + 2 * i, "%2hhx", &out[i]);
  return n;
}

int main(void) {
  static char hex[1 << 16];
  static unsigned char buf[1 << 15];
  char kind;
  unsigned long checks = 0, bad = 0;
  while (scanf(" %c %65535s", &kind, hex) == 2) {
    size_t n = unhex(hex, buf);
    if (kind == 'm') {
      unsigned long seed, want;
      if (scanf("%lu %lu", &seed, &want) != 2) return 2;
      uint32_t got = kw_murmur3_32(buf, n, (uint32_t)seed);
      checks++;
      if (got != want) { bad++; printf("murmur3 %s seed %lu: got %u want %lu\n", hex, seed, got, want); }
    } else {
      unsigned long shards, hash, want;
      if (scanf("%lu %lu %lu", &shards, &hash, &want) != 3) return 2;
      const char *tag;
      size_t tag_len;
      kw_hash_tag((const char *)buf, n, &tag, &tag_len);
      uint32_t h = kw_murmur3_32((const uint8_t *)tag, tag_len, 0);
      uint32_t got = kw_key_to_shard((const char *)buf, n, (uint32_t)shards);
      checks += 2;
      if (h != hash) { bad++; printf("tag hash %s: got %u want %lu\n", hex, h, hash); }
      if (got != want) { bad++; printf("shard %s mod %lu: got %u want %lu\n", hex, shards, got, want); }
    }
  }
  /* The shard-header syntax (docs/xds.md "Key to shard in Envoy"). */
  struct { const char *v; unsigned shards; int ok; unsigned want; } cases[] = {
    {"0", 1024, 1, 0}, {"1023", 1024, 1, 1023}, {"1024", 1024, 0, 0}, {"07", 1024, 0, 0},
    {"", 1024, 0, 0}, {"abc", 1024, 0, 0}, {"-1", 1024, 0, 0}, {"1.5", 1024, 0, 0}, {"+3", 1024, 0, 0},
    {"99999999999999999999", 1024, 0, 0}, {"4294967295", 4294967295u, 0, 0}, {"12 ", 1024, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint32_t s = 0;
    int ok = kw_parse_shard(cases[i].v, strlen(cases[i].v), cases[i].shards, &s);
    checks++;
    if (ok != cases[i].ok || (ok && s != cases[i].want)) { bad++; printf("parse '%s': got %d/%u\n", cases[i].v, ok, s); }
  }
  printf("%lu checks, %lu mismatches\n", checks, bad);
  return bad ? 1 : 0;
}
