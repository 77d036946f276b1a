/* The part of Envoy 1.36.4's dynamic-module ABI this module uses, declared by hand (pointers as
 * void*, enums as int). Envoy accepts a module only if on_program_init returns the exact ABI
 * version string of its build (the SHA-256 of its abi.h), so this module is tied to 1.36.x. */
#ifndef KEYWAY_ENVOY_ABI_H
#define KEYWAY_ENVOY_ABI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KW_ENVOY_ABI_VERSION "7ee559f16f35086fa7dc9ed380e2efc6b4d89031a001fb504aa71eccd25882f7"

typedef struct {
  const char *key;
  size_t key_length;
  const char *value;
  size_t value_length;
} kw_module_header;

/* Returns how many values the header has; *value and *value_length get the index-th one. */
size_t envoy_dynamic_module_callback_http_get_request_header(void *filter_envoy_ptr, const char *key, size_t key_length,
                                                             const char **value, size_t *value_length, size_t index);
bool envoy_dynamic_module_callback_http_set_request_header(void *filter_envoy_ptr, const char *key, size_t key_length,
                                                           const char *value, size_t value_length);
void envoy_dynamic_module_callback_http_send_response(void *filter_envoy_ptr, uint32_t status, kw_module_header *headers,
                                                      size_t headers_count, const char *body, size_t body_length);
/* The module pointer returned by on_http_filter_per_route_config_new for the request's route, or NULL. */
const void *envoy_dynamic_module_callback_get_most_specific_route_config(void *filter_envoy_ptr);
void envoy_dynamic_module_callback_log(int level, const char *message, size_t message_length);

enum { KW_LOG_INFO = 2, KW_LOG_WARN = 3, KW_LOG_ERROR = 4 };
enum { KW_CONTINUE = 0, KW_STOP_ITERATION = 1 };

#endif
