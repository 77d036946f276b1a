import sys
owners0 = sys.argv[1]
table = "keyway-owners-v1 2\\n%s\\n127.0.0.1:19102,127.0.0.1:19103\\n" % owners0
print(f"""resources:
- '@type': type.googleapis.com/envoy.config.route.v3.RouteConfiguration
  name: r
  virtual_hosts:
  - name: all
    domains: ['*']
    retry_policy: {{retry_on: 'connect-failure,refused-stream,reset', num_retries: 2}}
    typed_per_filter_config:
      keyway.shard_picker:
        '@type': type.googleapis.com/envoy.extensions.filters.http.dynamic_modules.v3.DynamicModuleFilterPerRoute
        dynamic_module_config: {{name: keyway_shard_picker}}
        per_route_config_name: owners
        filter_config:
          '@type': type.googleapis.com/google.protobuf.StringValue
          value: "{table}"
    routes:
    - match: {{prefix: /}}
      route: {{cluster: pool}}
""")
