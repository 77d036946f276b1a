package shardpicker

import (
	"strings"
	"testing"
)

// grpc-go reads the bootstrap with encoding/json, whose keys match case-insensitively: a key
// spelled "Metadata", "ID" or "Cluster" is node.metadata, node.id or node.cluster to it. Such a
// bootstrap is refused by name; taken as it was, the node's metadata was dropped for the picker's
// (grpc-go reads the last of the two keys), and a bad id or cluster went unchecked.
func TestWithPickerMetadataRefusesKeysGrpcGoFoldsCase(t *testing.T) {
	for _, in := range []string{
		`{"node":{"id":"app","Metadata":{"team":"x"}}}`,
		`{"node":{"id":"app","ID":""}}`,
		`{"node":{"id":"app","Cluster":5}}`,
		`{"node":{"id":"app","LOCALITY":"z"}}`,
		`{"Node":{"id":"app"}}`,
		`{"node":{"id":"app","cluſter":5}}`, // ſ folds to s, as encoding/json matches keys
	} {
		_, err := WithPickerMetadata([]byte(in))
		if err == nil || !strings.Contains(err.Error(), "case-insensitively") {
			t.Errorf("%s: %v, want refused for a key grpc-go reads case-insensitively", in, err)
		}
	}
	if _, err := WithPickerMetadata([]byte(`{"node":{"id":"app","metadata":{"Metadata":1},"ids":"x"}}`)); err != nil {
		t.Errorf("keys that are not node fields: %v", err)
	}
}
