package shardpicker

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestWithPickerMetadataKeepsTheRest: the metadata is added, every other field stays.
func TestWithPickerMetadataKeepsTheRest(t *testing.T) {
	in := `{"xds_servers":[{"server_uri":"k:18000"}],"node":{"id":"app-1","cluster":"c","locality":{"zone":"z1"},"metadata":{"team":"x"}}}`
	out, err := WithPickerMetadata([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		XDSServers []map[string]any `json:"xds_servers"`
		Node       map[string]any
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	meta, _ := got.Node["metadata"].(map[string]any)
	if meta[MetadataKey] != MetadataValue || meta["team"] != "x" || got.Node["id"] != "app-1" || got.Node["cluster"] != "c" || len(got.XDSServers) != 1 {
		t.Errorf("got %s", out)
	}
	// grpc-go takes a null locality as none, and ignores fields it does not know.
	if _, err := WithPickerMetadata([]byte(`{"node":{"id":"a","cluster":null}}`)); err != nil {
		t.Errorf("cluster null (grpc-go takes it as none): %v", err)
	}
	for _, locality := range []string{`null`, `{}`, `{"region":"r","zone":"z","sub_zone":"s","other":1}`} {
		if _, err := WithPickerMetadata([]byte(`{"node":{"id":"a","locality":` + locality + `}}`)); err != nil {
			t.Errorf("locality %s: %v", locality, err)
		}
	}
}

// TestWithPickerMetadataRefusesWhatFailsEveryCall: bootstraps that grpc-go refuses (a node.id,
// node.cluster or node.locality of the wrong type) or that keyway refuses (no node id: it closes
// the xDS stream) are errors naming the field, not a bootstrap whose every call fails UNAVAILABLE;
// a JSON null is an error, not a panic.
func TestWithPickerMetadataRefusesWhatFailsEveryCall(t *testing.T) {
	for in, field := range map[string]string{
		`null`:                                "is null",
		` null `:                              "is null",
		`[]`:                                  "not a JSON object",
		`{}`:                                  "node.id",
		`{"node":{}}`:                         "node.id",
		`{"node":{"metadata":{"a":"b"}}}`:     "node.id",
		`{"node":{"id":""}}`:                  "node.id",
		`{"node":{"id":null}}`:                "node.id",
		`{"node":{"id":42}}`:                  "node.id must be a string, got 42",
		`{"node":{"id":["a"]}}`:               "node.id must be a string",
		`{"node":{"id":"a","locality":"z1"}}`: `node.locality must be a JSON object whose region, zone and sub_zone are strings, got "z1"`,
		`{"node":{"id":"a","locality":{"zone":1}}}`: "node.locality",
		`{"node":{"id":"a","metadata":[]}}`:         "node.metadata",
		`{"node":"a"}`:                              "node is not",
		`{"node":{"id":"a","cluster":42}}`:          "node.cluster must be a string, got 42",
		`{"node":{"id":"a","cluster":{"x":"y"}}}`:   "node.cluster must be a string",
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic %v", in, r)
				}
			}()
			out, err := WithPickerMetadata([]byte(in))
			if err == nil || !strings.Contains(err.Error(), field) || !strings.HasPrefix(err.Error(), Name+": ") {
				t.Errorf("%s: got %s, %v; want an error about %q", in, out, err, field)
			}
		}()
	}
}

// TestBootstrapRefusesEmptyFields: an empty server URI (grpc-go refuses the bootstrap) or node id
// (keyway refuses the stream) is an error, not a bootstrap that fails every call.
func TestBootstrapRefusesEmptyFields(t *testing.T) {
	if b, err := Bootstrap("", "app-1"); err == nil || !strings.Contains(err.Error(), "server_uri") {
		t.Errorf("empty server URI: got %s, %v", b, err)
	}
	if b, err := Bootstrap("keyway:18000", ""); err == nil || !strings.Contains(err.Error(), "node.id") {
		t.Errorf("empty node id: got %s, %v", b, err)
	}
	b, err := Bootstrap("keyway:18000", "app-1")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := WithPickerMetadata(b); err != nil || string(again) != string(b) {
		t.Errorf("WithPickerMetadata(Bootstrap(...)) = %s, %v; want %s", again, err, b)
	}
}
