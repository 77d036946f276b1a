package shardpicker

import (
	"encoding/json"
	"fmt"
	"strings"
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
// of the file is kept as it was. It fails when bootstrap is not a JSON object, its node,
// node.metadata or node.locality is not one, node.id is not a non-empty string, or node.cluster is
// not a string: grpc-go refuses a bootstrap whose id, cluster or locality has the wrong type, and
// keyway refuses an xDS stream without a node id, so either way every call would fail UNAVAILABLE.
// It also fails when node, or node's id, cluster, locality or metadata, is spelled otherwise
// ("Node", "ID", "Metadata"): grpc-go matches those keys case-insensitively, so it would read a
// field these checks and the added metadata do not see.
func WithPickerMetadata(bootstrap []byte) ([]byte, error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal(bootstrap, &root); err != nil {
		return nil, fmt.Errorf("%s: the bootstrap is not a JSON object: %w", Name, err)
	}
	if root == nil { // JSON null decodes without error into a nil map, which cannot be written to
		return nil, fmt.Errorf("%s: the bootstrap is null, not a JSON object", Name)
	}
	if err := checkKeySpelling(root, "", "node"); err != nil {
		return nil, err
	}
	node := map[string]json.RawMessage{}
	if raw, ok := root["node"]; ok {
		if err := json.Unmarshal(raw, &node); err != nil || node == nil {
			return nil, fmt.Errorf("%s: the bootstrap's node is not a JSON object", Name)
		}
	}
	if err := checkKeySpelling(node, "node.", "id", "cluster", "locality", "metadata"); err != nil {
		return nil, err
	}
	if err := checkNodeID(node["id"]); err != nil {
		return nil, err
	}
	if raw, ok := node["cluster"]; ok {
		// grpc-go reads node.cluster into a string: any other JSON type (null aside) fails the bootstrap.
		var cluster *string
		if err := json.Unmarshal(raw, &cluster); err != nil {
			return nil, fmt.Errorf("%s: the bootstrap's node.cluster must be a string, got %s (grpc-go refuses the bootstrap: every call would fail UNAVAILABLE)", Name, describe(raw))
		}
	}
	if raw, ok := node["locality"]; ok {
		// Read as grpc-go reads it: an object (or null) whose region, zone and sub_zone are strings.
		var locality *struct {
			Region  string `json:"region"`
			Zone    string `json:"zone"`
			SubZone string `json:"sub_zone"`
		}
		if err := json.Unmarshal(raw, &locality); err != nil {
			return nil, fmt.Errorf("%s: the bootstrap's node.locality must be a JSON object whose region, zone and sub_zone are strings, got %s (grpc-go refuses the bootstrap: every call would fail UNAVAILABLE)", Name, describe(raw))
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
// serverURI and nodeID must not be empty: grpc-go refuses a server without a URI, keyway a node
// without an id.
func Bootstrap(serverURI, nodeID string) ([]byte, error) {
	if serverURI == "" {
		return nil, fmt.Errorf("%s: the bootstrap's xds_servers[0].server_uri is empty; give keyway's xDS address, host:port (grpc-go refuses an empty one)", Name)
	}
	if nodeID == "" {
		return nil, errNoNodeID
	}
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

var errNoNodeID = fmt.Errorf("%s: the bootstrap's node.id is missing or empty; set it to a name of this client (keyway refuses an xDS stream without a node id: every call would fail UNAVAILABLE)", Name)

// checkNodeID accepts a node.id that is a non-empty JSON string (raw is nil when there is none).
func checkNodeID(raw json.RawMessage) error {
	if raw == nil {
		return errNoNodeID
	}
	var id *string
	if err := json.Unmarshal(raw, &id); err != nil {
		return fmt.Errorf("%s: the bootstrap's node.id must be a string, got %s (grpc-go refuses the bootstrap: every call would fail UNAVAILABLE)", Name, describe(raw))
	}
	if id == nil || *id == "" {
		return errNoNodeID
	}
	return nil
}

// checkKeySpelling refuses a key of obj that grpc-go takes for one of names without being spelled
// so: grpc-go reads the bootstrap with encoding/json, whose keys match case-insensitively (the
// last one wins), so "Metadata" or "ID" is read as node.metadata or node.id, and the checks above
// and the metadata added here would miss it (the node's own metadata dropped, an id refused).
func checkKeySpelling(obj map[string]json.RawMessage, prefix string, names ...string) error {
	for key := range obj {
		for _, name := range names {
			if key != name && strings.EqualFold(key, name) {
				return fmt.Errorf("%s: the bootstrap's %s%s is read by grpc-go, whose JSON keys match case-insensitively, as %s%s; spell it %q", Name, prefix, key, prefix, name, name)
			}
		}
	}
	return nil
}

// describe quotes a JSON value for an error, cut short.
func describe(raw []byte) string {
	const most = 40
	if len(raw) > most {
		return string(raw[:most]) + "..."
	}
	return string(raw)
}
