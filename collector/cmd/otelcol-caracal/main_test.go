// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
)

func TestComponents(t *testing.T) {
	f, err := components()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"caracal", "groupbytrace", "batch", "memory_limiter"} {
		if _, ok := f.Processors[typeOf(t, want)]; !ok {
			t.Errorf("processor %s missing", want)
		}
	}
	for _, want := range []string{"debug", "otlp_grpc", "otlp_http"} {
		if _, ok := f.Exporters[typeOf(t, want)]; !ok {
			t.Errorf("exporter %s missing", want)
		}
	}
	if _, ok := f.Receivers[typeOf(t, "otlp")]; !ok {
		t.Error("receiver otlp missing")
	}
}

// TestExampleConfig validates the example configuration as the Collector
// does at start, without starting anything.
func TestExampleConfig(t *testing.T) {
	if err := run([]string{"validate", "--config", "config.yaml"}); err != nil {
		t.Fatalf("validate config.yaml: %v", err)
	}
}

// TestConfigErrorAtStart checks that a wrong caracal field fails the
// configuration before anything starts, and that the error names it.
func TestConfigErrorAtStart(t *testing.T) {
	b, err := os.ReadFile("config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(b), "untrusted_claims: flag", "untrusted_claims: sometimes", 1)
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run([]string{"validate", "--config", path})
	if err == nil || !strings.Contains(err.Error(), "processors::caracal") ||
		!strings.Contains(err.Error(), "attribution::untrusted_claims") {
		t.Errorf("validate = %v, want an error naming processors::caracal and the field", err)
	}
}

func typeOf(t *testing.T, name string) component.Type {
	t.Helper()
	typ, err := component.NewType(name)
	if err != nil {
		t.Fatal(err)
	}
	return typ
}
