package shardpicker

import (
	"encoding/json"
	"fmt"
)

// MetadataKey and MetadataValue are the xDS bootstrap node.metadata entry by which a client tells
// keyway it carries this policy (shard-picker contract version 1). keyway then serves it one route
// and the keyway-shards cluster; a client without it gets one route per shard.
const (
	MetadataKey   = "keyway.shard_picker"
	MetadataValue = "v1"
)

// WithPickerMetadata returns the xDS bootstrap JSON bootstrap (the content of GRPC_XDS_BOOTSTRAP or
// GRPC_XDS_BOOTSTRAP_CONFIG) with node.metadata["keyway.shard_picker"] = "v1" added; the rest
// of the file is kept as it was. It fails when bootstrap is not a JSON object, or its node or
// node.metadata is not one.
func WithPickerMetadata(bootstrap []byte) ([]byte, error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(bootstrap, &root); err != nil {
		return nil, fmt.Errorf("%s: the bootstrap is not a JSON object: %w", Name, err)
	}
	node := map[string]json.RawMessage{}
	if raw, ok := root["node"]; ok {
		if err := json.Unmarshal(raw, &node); err != nil || node == nil {
			return nil, fmt.Errorf("%s: the bootstrap's node is not a JSON object", Name)
		}
	}
	meta := map[string]json.RawMessage{}
	if raw, ok := node["metadata"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil || meta == nil {
			return nil, fmt.Errorf("%s: the bootstrap's node.metadata is not a JSON object", Name)
		}
	}
	meta[MetadataKey] = json.RawMessage(`"` + MetadataValue + `"`)
	var err error
	if node["metadata"], err = json.Marshal(meta); err != nil {
		return nil, err
	}
	if root["node"], err = json.Marshal(node); err != nil {
		return nil, err
	}
	return json.Marshal(root)
}

// Bootstrap returns a minimal grpc-go xDS bootstrap for keyway at serverURI ("host:port", plaintext;
// see docs/security.md in the keyway repository for TLS), with node id nodeID and the picker's
// node metadata. Put it in GRPC_XDS_BOOTSTRAP_CONFIG, or in a file named by GRPC_XDS_BOOTSTRAP.
func Bootstrap(serverURI, nodeID string) ([]byte, error) {
	type server struct {
		ServerURI      string           `json:"server_uri"`
		ChannelCreds   []map[string]any `json:"channel_creds"`
		ServerFeatures []string         `json:"server_features"`
	}
	return json.Marshal(map[string]any{
		"xds_servers": []server{{ServerURI: serverURI, ChannelCreds: []map[string]any{{"type": "insecure"}}, ServerFeatures: []string{"xds_v3"}}},
		"node":        map[string]any{"id": nodeID, "metadata": map[string]string{MetadataKey: MetadataValue}},
	})
}
