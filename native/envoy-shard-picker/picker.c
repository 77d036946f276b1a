/*
 * keyway's shard pick as an Envoy dynamic module (an experiment, used by the data-plane benchmark
 * only; see README.md).
 *
 * For each request: the shard from x-cache-shard (a canonical decimal below S, sent once) or from
 * the key header (hash contract 1, sent once); the shard's owners, primary first, from an owners
 * table; written as "ip:port,ip:port" into x-gateway-destination-endpoint for Envoy's
 * override_host load-balancing policy. Bad input gets the 400s of keyway's Lua filter.
 *
 * Config (both google.protobuf.StringValue):
 *  - filter config: option lines "key_header=<name>" (default x-cache-key) and, for measuring
 *    only, "mode=noop" (the filter does nothing), optionally followed by an owners table used
 *    when the route has none;
 *  - per-route config (DynamicModuleFilterPerRoute, arrives by RDS): an owners table.
 * Owners table: a line "keyway-owners-v1 <S>" then S lines, line i the owners of shard i
 * (comma-separated ip:port, primary first; empty = no owner).
 *
 * Per request nothing is allocated: the filter's module pointer is its (immutable) config.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envoy_abi.h"
#include "shard.h"

#define SHARD_HEADER "x-cache-shard"
#define DEST_HEADER "x-gateway-destination-endpoint"
#define TABLE_MAGIC "keyway-owners-v1 "

typedef struct {
  uint32_t shards;
  char *text;       /* every owners list, back to back */
  uint32_t *offset; /* shards + 1 offsets into text */
} owners_table;

typedef struct {
  char key_header[128];
  size_t key_header_len;
  owners_table *table; /* NULL: only per-route tables */
  int noop;            /* "mode=noop": do nothing (measures the cost of calling a module at all) */
} filter_config;

static void logf_(int level, const char *fmt, const char *arg) {
  char msg[512];
  int n = snprintf(msg, sizeof msg, fmt, arg);
  if (n > 0) envoy_dynamic_module_callback_log(level, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
}

static void table_free(owners_table *t) {
  if (!t) return;
  free(t->text);
  free(t->offset);
  free(t);
}

/* Parses a table starting at p (the magic line); NULL when malformed. */
static owners_table *table_parse(const char *p, size_t len) {
  size_t magic = strlen(TABLE_MAGIC);
  if (len < magic || memcmp(p, TABLE_MAGIC, magic) != 0) return NULL;
  size_t i = magic;
  uint64_t s = 0;
  while (i < len && p[i] >= '0' && p[i] <= '9' && s <= 0xffffffffu) s = s * 10 + (uint64_t)(p[i++] - '0');
  if (s == 0 || s > 0xffffffffu || i >= len || p[i] != '\n') return NULL;
  i++;
  owners_table *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  t->shards = (uint32_t)s;
  t->offset = malloc(((size_t)s + 1) * sizeof *t->offset);
  t->text = malloc(len - i + 1);
  if (!t->offset || !t->text) { table_free(t); return NULL; }
  uint32_t used = 0;
  for (uint32_t shard = 0; shard < t->shards; shard++) {
    t->offset[shard] = used;
    size_t start = i;
    while (i < len && p[i] != '\n') i++;
    if (i >= len && shard + 1 < t->shards) { table_free(t); return NULL; } /* too few lines */
    size_t end = i;
    if (end > start && p[end - 1] == '\r') end--;
    memcpy(t->text + used, p + start, end - start);
    used += (uint32_t)(end - start);
    if (i < len) i++;
  }
  t->offset[t->shards] = used;
  while (i < len && (p[i] == '\n' || p[i] == '\r')) i++;
  if (i != len) { table_free(t); return NULL; } /* too many lines */
  return t;
}

const char *envoy_dynamic_module_on_program_init(void) { return KW_ENVOY_ABI_VERSION; }

void *envoy_dynamic_module_on_http_filter_config_new(void *config_envoy_ptr, const char *name, size_t name_len,
                                                     const char *config, size_t config_len) {
  (void)config_envoy_ptr, (void)name, (void)name_len;
  filter_config *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  strcpy(c->key_header, "x-cache-key");
  c->key_header_len = strlen(c->key_header);
  size_t i = 0;
  while (i < config_len) {
    const char *line = config + i;
    size_t n = 0;
    while (i + n < config_len && config[i + n] != '\n') n++;
    if (n >= strlen(TABLE_MAGIC) && memcmp(line, TABLE_MAGIC, strlen(TABLE_MAGIC)) == 0) {
      c->table = table_parse(line, config_len - i);
      if (!c->table) { logf_(KW_LOG_ERROR, "keyway shard picker: %s", "malformed owners table in the filter config"); free(c); return NULL; }
      break;
    }
    if (n == 9 && memcmp(line, "mode=noop", 9) == 0) {
      c->noop = 1;
    } else if (n > 11 && memcmp(line, "key_header=", 11) == 0 && n - 11 < sizeof c->key_header) {
      memcpy(c->key_header, line + 11, n - 11);
      c->key_header[n - 11] = '\0';
      c->key_header_len = n - 11;
    } else if (n > 0) {
      logf_(KW_LOG_ERROR, "keyway shard picker: unknown filter config line: %.200s", line);
      table_free(c->table);
      free(c);
      return NULL;
    }
    i += n + 1;
  }
  return c;
}

void envoy_dynamic_module_on_http_filter_config_destroy(void *config) {
  filter_config *c = config;
  table_free(c->table);
  free(c);
}

void *envoy_dynamic_module_on_http_filter_per_route_config_new(const char *name, size_t name_len, const char *config,
                                                               size_t config_len) {
  (void)name, (void)name_len;
  owners_table *t = table_parse(config, config_len);
  if (!t) logf_(KW_LOG_ERROR, "keyway shard picker: %s", "malformed owners table in the per-route config");
  return t;
}

void envoy_dynamic_module_on_http_filter_per_route_config_destroy(void *config) { table_free(config); }

/* The stream's module pointer is the filter config: nothing per stream to allocate or free. */
void *envoy_dynamic_module_on_http_filter_new(void *config, void *filter_envoy_ptr) {
  (void)filter_envoy_ptr;
  return config;
}

void envoy_dynamic_module_on_http_filter_destroy(void *filter) { (void)filter; }

static int reply(void *envoy, uint32_t status, const char *body, size_t body_len) {
  kw_module_header h = {"content-type", 12, "text/plain", 10};
  envoy_dynamic_module_callback_http_send_response(envoy, status, &h, 1, body, body_len);
  return KW_STOP_ITERATION;
}

int envoy_dynamic_module_on_http_filter_request_headers(void *envoy, void *filter, bool end_of_stream) {
  (void)end_of_stream;
  const filter_config *c = filter;
  if (c->noop) return KW_CONTINUE;
  const owners_table *t = envoy_dynamic_module_callback_get_most_specific_route_config(envoy);
  if (!t) t = c->table;
  if (!t) {
    static const char body[] = "keyway holds no shard map yet\n";
    return reply(envoy, 503, body, sizeof body - 1);
  }
  char body[160];
  const char *v = NULL;
  size_t len = 0;
  uint32_t shard;
  size_t n = envoy_dynamic_module_callback_http_get_request_header(envoy, SHARD_HEADER, sizeof SHARD_HEADER - 1, &v, &len, 0);
  if (n > 0) {
    if (n != 1 || !kw_parse_shard(v, len, t->shards, &shard)) {
      int m = snprintf(body, sizeof body, "x-cache-shard must be an integer in [0, %u)\n", t->shards);
      return reply(envoy, 400, body, (size_t)m);
    }
  } else {
    n = envoy_dynamic_module_callback_http_get_request_header(envoy, c->key_header, c->key_header_len, &v, &len, 0);
    if (n == 0) {
      int m = snprintf(body, sizeof body, "missing x-cache-shard and %s headers\n", c->key_header);
      return reply(envoy, 400, body, (size_t)m);
    }
    if (n != 1) {
      int m = snprintf(body, sizeof body, "%s must be sent once\n", c->key_header);
      return reply(envoy, 400, body, (size_t)m);
    }
    shard = kw_key_to_shard(v ? v : "", v ? len : 0, t->shards);
    /* The node checks that it owns the shard it is asked for, as with keyway's Lua filter. */
    char digits[11];
    int m = snprintf(digits, sizeof digits, "%u", shard);
    envoy_dynamic_module_callback_http_set_request_header(envoy, SHARD_HEADER, sizeof SHARD_HEADER - 1, digits, (size_t)m);
  }
  uint32_t from = t->offset[shard], to = t->offset[shard + 1];
  if (from == to) {
    int m = snprintf(body, sizeof body, "shard %u has no owner\n", shard);
    return reply(envoy, 503, body, (size_t)m);
  }
  /* Overwrites any value the client sent: a client cannot pick its own endpoint. */
  envoy_dynamic_module_callback_http_set_request_header(envoy, DEST_HEADER, sizeof DEST_HEADER - 1, t->text + from, to - from);
  return KW_CONTINUE;
}

int envoy_dynamic_module_on_http_filter_request_body(void *envoy, void *filter, bool end_of_stream) {
  (void)envoy, (void)filter, (void)end_of_stream;
  return KW_CONTINUE;
}
int envoy_dynamic_module_on_http_filter_request_trailers(void *envoy, void *filter) {
  (void)envoy, (void)filter;
  return KW_CONTINUE;
}
int envoy_dynamic_module_on_http_filter_response_headers(void *envoy, void *filter, bool end_of_stream) {
  (void)envoy, (void)filter, (void)end_of_stream;
  return KW_CONTINUE;
}
int envoy_dynamic_module_on_http_filter_response_body(void *envoy, void *filter, bool end_of_stream) {
  (void)envoy, (void)filter, (void)end_of_stream;
  return KW_CONTINUE;
}
int envoy_dynamic_module_on_http_filter_response_trailers(void *envoy, void *filter) {
  (void)envoy, (void)filter;
  return KW_CONTINUE;
}
void envoy_dynamic_module_on_http_filter_stream_complete(void *envoy, void *filter) { (void)envoy, (void)filter; }
void envoy_dynamic_module_on_http_filter_scheduled(void *envoy, void *filter, uint64_t event_id) {
  (void)envoy, (void)filter, (void)event_id;
}
void envoy_dynamic_module_on_http_filter_http_callout_done(void *envoy, void *filter, uint32_t callout_id, int result,
                                                           void *headers, size_t headers_size, void *chunks,
                                                           size_t chunks_size) {
  (void)envoy, (void)filter, (void)callout_id, (void)result, (void)headers, (void)headers_size, (void)chunks,
      (void)chunks_size;
}
