// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"io"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/otelcaracal/otelcaracal/exporter"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestExistingSetup: with the two changed lines, both spans of the request
// carry the envelope the caller sent, and no other baggage member.
func TestExistingSetup(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	if err := run(context.Background(), io.Discard, rec); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	for _, s := range spans {
		attrs := attribute.NewSet(s.Attributes()...)
		for k, want := range map[attribute.Key]string{
			exporter.AgentSessionKey:     "session-child",
			exporter.DelegationKey:       "delegation-1",
			exporter.DelegationParentKey: "delegation-root",
			exporter.SubjectRecordKey:    "authority-record-1",
			exporter.AttributionKey:      "claimed",
		} {
			if v, _ := attrs.Value(k); v.AsString() != want {
				t.Errorf("%s: %s = %q, want %q", s.Name(), k, v.AsString(), want)
			}
		}
		if v, _ := attrs.Value(exporter.HopKey); v.AsInt64() != 1 {
			t.Errorf("%s: hop = %v", s.Name(), v.AsInt64())
		}
		if attrs.HasValue("tenant") {
			t.Errorf("%s: third-party baggage copied", s.Name())
		}
		if s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("%s: not in the caller's trace", s.Name())
		}
	}
}
