// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otelcaracal/otelcaracal/exporter"
)

const traceHex = "4bf92f3577b34da6a3ce929d0e0e4736"

func golden(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "otlp.golden"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runArgs runs the command and returns what it printed.
func runArgs(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(stdin), &out)
	return out.String(), err
}

func TestFiles(t *testing.T) {
	otlp, err := os.ReadFile(filepath.Join("testdata", "otlp.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
	}{
		{name: "otlp json", args: []string{"-file", "testdata/otlp.json"}},
		{name: "saved jaeger response", args: []string{"-file", "testdata/jaeger.json"}},
		{name: "stdin", args: []string{"-file", "-"}, stdin: string(otlp)},
		{name: "jaeger v3 response", args: []string{"-file", "-"}, stdin: `{"result": ` + string(otlp) + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runArgs(t, tt.stdin, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if got != golden(t) {
				t.Errorf("got\n%s\nwant\n%s", got, golden(t))
			}
		})
	}
}

// TestFileExporterLines reads documents one after another, as the file
// exporter writes them.
func TestFileExporterLines(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "otlp.json"))
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, b); err != nil {
		t.Fatal(err)
	}
	in := compact.String() + "\n" + compact.String() + "\n"
	got, err := runArgs(t, in, "-file", "-", "-json")
	if err != nil {
		t.Fatal(err)
	}
	var chains []exporter.Chain
	if err := json.Unmarshal([]byte(got), &chains); err != nil {
		t.Fatalf("-json output is not JSON: %v\n%s", err, got)
	}
	if len(chains) != 1 || chains[0].TraceID != traceHex || chains[0].Roots[0].SpanCount != 2 {
		t.Errorf("chains = %s", got)
	}
}

func TestJaeger(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "jaeger.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/traces/"+traceHex:
		case r.URL.Path == "/api/traces" && r.URL.Query().Get("service") == "planner-agent" &&
			r.URL.Query().Get("start") != "" && r.URL.Query().Get("limit") == "5":
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"data":null,"errors":[{"code":404,"msg":"trace not found"}]}`))
			return
		}
		_, _ = w.Write(body)
	}))
	defer srv.Close()

	for name, args := range map[string][]string{
		"by trace":   {"-jaeger", srv.URL, "-trace", traceHex},
		"by service": {"-jaeger", srv.URL + "/", "-service", "planner-agent", "-limit", "5"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := runArgs(t, "", args...)
			if err != nil {
				t.Fatal(err)
			}
			if got != golden(t) {
				t.Errorf("got\n%s\nwant\n%s", got, golden(t))
			}
		})
	}
	t.Run("unknown trace", func(t *testing.T) {
		_, err := runArgs(t, "", "-jaeger", srv.URL, "-trace", "00000000000000000000000000000001")
		if err == nil || !strings.Contains(err.Error(), "404") {
			t.Errorf("err = %v, want a 404", err)
		}
	})
}

func TestNoChains(t *testing.T) {
	got, err := runArgs(t, `{"resourceSpans":[]}`, "-file", "-")
	if err != nil || !strings.Contains(got, "no delegation chains") {
		t.Errorf("run = %q, %v", got, err)
	}
}

func TestUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"nothing":             {},
		"both sources":        {"-file", "x", "-jaeger", "http://127.0.0.1:1"},
		"jaeger without what": {"-jaeger", "http://127.0.0.1:1"},
		"trace and service":   {"-jaeger", "http://127.0.0.1:1", "-trace", "a", "-service", "b"},
		"not a url":           {"-jaeger", "127.0.0.1:16686", "-trace", "a"},
		"bad limit":           {"-jaeger", "http://127.0.0.1:1", "-service", "b", "-limit", "0"},
		"extra argument":      {"-file", "x", "y"},
		"unknown flag":        {"-nope"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := runArgs(t, "", args...); !errors.Is(err, errUsage) {
				t.Errorf("err = %v, want a usage error", err)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	for name, in := range map[string]string{
		"empty":        "",
		"not json":     "trace 1",
		"other json":   `{"spans": []}`,
		"bad otlp":     `{"resourceSpans": 5}`,
		"bad jaeger":   `{"data": 5}`,
		"jaeger error": `{"data": [], "errors": [{"code": 500, "msg": "boom"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := runArgs(t, in, "-file", "-"); err == nil {
				t.Error("bad input accepted")
			}
		})
	}
}
