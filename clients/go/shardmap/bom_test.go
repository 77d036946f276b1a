package shardmap

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
)

// A body that starts with a UTF-8 byte order mark is read without it, as the TypeScript client
// (TextDecoder) and the Python client read it: encoding/json calls such a body not JSON, so the
// Go client alone refused the map and every /readyz answer.
func TestBodyWithByteOrderMarkIsRead(t *testing.T) {
	s := newScripted(t, func(w http.ResponseWriter, r *http.Request) {
		var raw []byte
		if r.URL.Path == "/readyz" {
			raw, _ = json.Marshal(map[string]any{"ready": true, "version": "v1"})
		} else {
			raw, _ = json.Marshal(smallMap("v1", "2026-12-08T01:00:00.000Z", "a"))
		}
		raw = append([]byte("\ufeff"), raw...)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
		_, _ = w.Write(raw)
	})
	c, err := New(s.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := c.Refresh(context.Background()); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if v := c.Version(); v != "v1" {
		t.Errorf("version %q, want v1", v)
	}
	if owners, err := c.Owners("k"); err != nil || len(owners) != 1 || owners[0].ID != "a" {
		t.Errorf("owners %v, %v", owners, err)
	}
	// One poll: /readyz, read as the held version.
	c.reqMu.Lock()
	c.poll(make(chan struct{}))
	c.reqMu.Unlock()
	if s.count("/readyz") != 1 {
		t.Errorf("%d /readyz requests, want 1", s.count("/readyz"))
	}
	if err := c.LastError(); err != nil {
		t.Errorf("after a poll: %v", err)
	}
}
