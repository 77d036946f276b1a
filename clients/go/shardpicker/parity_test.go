package shardpicker

import "testing"

// The grpc-js picker's reader (src/grpc/endpoint-address.ts) takes a port of 1 to 5 digits; a Go
// reader that took "000080" as 80 would route on a cluster the grpc-js client NACKs.
func TestEndpointPortSpelledAsTheGrpcJsReaderTakesIt(t *testing.T) {
	for ep, ok := range map[string]bool{"10.0.0.1:80": true, "10.0.0.1:00080": true, "[fd00::1]:08000": true, "10.0.0.1:000080": false, "[fd00::1]:000080": false, "10.0.0.1:": false} {
		_, err := parseConfig(configJSON(t, "", "any", []string{ep}, 1, [][]int{{0}}))
		if (err == nil) != ok {
			t.Errorf("endpoint %q: err %v, want accepted %v", ep, err, ok)
		}
	}
}
