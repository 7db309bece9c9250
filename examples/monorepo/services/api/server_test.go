package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func do(t *testing.T, srv *httptest.Server, method, path string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, got
}

func TestHealthz(t *testing.T) {
	srv := httptest.NewServer(newServer(NewStore()))
	defer srv.Close()
	if code, _, body := do(t, srv, "GET", "/healthz", nil); code != 200 || string(body) != "ok\n" {
		t.Fatalf("GET /healthz = %d %q, want 200 \"ok\\n\"", code, body)
	}
	if code, hdr, _ := do(t, srv, "POST", "/healthz", nil); code != 405 || hdr.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST /healthz = %d Allow=%q, want 405 with Allow", code, hdr.Get("Allow"))
	}
}

func TestPutGetDelete(t *testing.T) {
	srv := httptest.NewServer(newServer(NewStore()))
	defer srv.Close()

	if code, _, _ := do(t, srv, "GET", "/v1/kv/colour", nil); code != 404 {
		t.Fatalf("GET of an unset key = %d, want 404", code)
	}
	if code, _, _ := do(t, srv, "PUT", "/v1/kv/colour", []byte("blue")); code != 201 {
		t.Fatalf("first PUT = %d, want 201", code)
	}
	if code, _, _ := do(t, srv, "PUT", "/v1/kv/colour", []byte("green")); code != 204 {
		t.Fatalf("second PUT = %d, want 204", code)
	}
	if code, _, body := do(t, srv, "GET", "/v1/kv/colour", nil); code != 200 || string(body) != "green" {
		t.Fatalf("GET = %d %q, want 200 \"green\"", code, body)
	}
	if code, _, _ := do(t, srv, "DELETE", "/v1/kv/colour", nil); code != 204 {
		t.Fatalf("DELETE = %d, want 204", code)
	}
	if code, _, _ := do(t, srv, "DELETE", "/v1/kv/colour", nil); code != 404 {
		t.Fatalf("second DELETE = %d, want 404", code)
	}
}

func TestListKeys(t *testing.T) {
	srv := httptest.NewServer(newServer(NewStore()))
	defer srv.Close()
	for _, k := range []string{"b", "a.txt", "c_1"} {
		do(t, srv, "PUT", "/v1/kv/"+k, []byte("x"))
	}
	code, hdr, body := do(t, srv, "GET", "/v1/kv/", nil)
	var keys []string
	if err := json.Unmarshal(body, &keys); err != nil || code != 200 {
		t.Fatalf("GET /v1/kv/ = %d %q (%v)", code, body, err)
	}
	if want := []string{"a.txt", "b", "c_1"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys = %v, want %v", keys, want)
	}
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q", ct)
	}
}

func TestRejects(t *testing.T) {
	srv := httptest.NewServer(newServer(NewStore()))
	defer srv.Close()
	cases := []struct {
		method, path string
		body         []byte
		want         int
	}{
		{"GET", "/v1/kv/" + url.PathEscape("no spaces"), nil, 400},
		{"GET", "/v1/kv/a/b", nil, 400},
		{"GET", "/v1/kv/" + strings.Repeat("k", 129), nil, 400},
		{"POST", "/v1/kv/k", []byte("v"), 405},
		{"DELETE", "/v1/kv/", nil, 405},
		{"PUT", "/v1/kv/big", bytes.Repeat([]byte("x"), MaxValueBytes+1), 413},
	}
	for _, c := range cases {
		if code, _, _ := do(t, srv, c.method, c.path, c.body); code != c.want {
			t.Errorf("%s %.40s = %d, want %d", c.method, c.path, code, c.want)
		}
	}
	// The largest value that fits is stored.
	if code, _, _ := do(t, srv, "PUT", "/v1/kv/big", bytes.Repeat([]byte("x"), MaxValueBytes)); code != 201 {
		t.Errorf("PUT of exactly 1 MiB = %d, want 201", code)
	}
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(newServer(NewStore()))
	addr := srv.Listener.Addr().String()
	if err := probe(addr); err != nil {
		t.Fatalf("probe of a healthy server: %v", err)
	}
	srv.Close()
	if err := probe(addr); err == nil {
		t.Fatal("probe of a closed port succeeded")
	}
}
