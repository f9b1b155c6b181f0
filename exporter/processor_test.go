// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package exporter_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	otelbaggage "go.opentelemetry.io/otel/baggage"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/otelcaracal/otelcaracal/exporter"
)

// fullBaggage is the five envelope members.
const fullBaggage = "caracal.agent_session=session-child," +
	"caracal.delegation_edge=delegation-1," +
	"caracal.parent_edge=delegation-root," +
	"caracal.session=authority-record-1," +
	"caracal.hop=1"

// fullAttrs are the attributes of fullBaggage.
var fullAttrs = []attribute.KeyValue{
	exporter.AgentSessionKey.String("session-child"),
	exporter.DelegationKey.String("delegation-1"),
	exporter.DelegationParentKey.String("delegation-root"),
	exporter.SubjectRecordKey.String("authority-record-1"),
	exporter.HopKey.Int(1),
	exporter.AttributionKey.String(exporter.AttributionClaimed),
}

func TestSpanProcessor(t *testing.T) {
	claimed := exporter.AttributionKey.String(exporter.AttributionClaimed)
	tests := []struct {
		name    string
		baggage string
		want    []attribute.KeyValue
	}{
		{
			name:    "envelope",
			baggage: fullBaggage,
			want:    fullAttrs,
		},
		{
			name: "other members are not copied",
			baggage: fullBaggage + ",tenant=example,region=eu-west," +
				"caracal.zone=zone-1,caracal.agent_session.id=forged," +
				"caracal.attribution=verified,caracal.hop.extra=9",
			want: fullAttrs,
		},
		{
			name:    "root envelope",
			baggage: "tenant=example,caracal.zone=zone-1",
		},
		{
			name: "no baggage",
		},
		{
			name:    "session only",
			baggage: "caracal.agent_session=session-root",
			want: []attribute.KeyValue{
				exporter.AgentSessionKey.String("session-root"),
				exporter.HopKey.Int(0),
				claimed,
			},
		},
		{
			name:    "hop only",
			baggage: "caracal.hop=3",
			want:    []attribute.KeyValue{exporter.HopKey.Int(3), claimed},
		},
		{
			name:    "hop above the limit",
			baggage: "caracal.delegation_edge=edge-1,caracal.hop=99",
			want: []attribute.KeyValue{
				exporter.DelegationKey.String("edge-1"),
				exporter.HopKey.Int(10),
				claimed,
			},
		},
		{
			name:    "malformed hop",
			baggage: "caracal.session=record-1,caracal.hop=-1",
			want: []attribute.KeyValue{
				exporter.SubjectRecordKey.String("record-1"),
				exporter.HopKey.Int(0),
				claimed,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := startSpan(t, exporter.NewSpanProcessor(), tt.baggage)
			gotSet := attribute.NewSet(got...)
			wantSet := attribute.NewSet(tt.want...)
			if len(got) != len(tt.want) || !gotSet.Equals(&wantSet) {
				t.Errorf("attributes = %s, want %s",
					gotSet.Encoded(attribute.DefaultEncoder()),
					wantSet.Encoded(attribute.DefaultEncoder()))
			}
		})
	}
}

func TestSpanProcessorHopIsInt(t *testing.T) {
	for _, kv := range startSpan(t, exporter.NewSpanProcessor(), fullBaggage) {
		if kv.Key != exporter.HopKey {
			continue
		}
		if kv.Value.Type() != attribute.INT64 || kv.Value.AsInt64() != 1 {
			t.Errorf("hop = %s %s, want INT64 1",
				kv.Value.Type(), kv.Value.Emit())
		}
		return
	}
	t.Error("no hop attribute")
}

func TestSpanProcessorZeroValue(t *testing.T) {
	for _, sp := range []*exporter.SpanProcessor{
		{},
		exporter.NewSpanProcessor(nil),
	} {
		if got := startSpan(t, sp, fullBaggage); len(got) != len(fullAttrs) {
			t.Errorf("got %d attributes, want %d", len(got), len(fullAttrs))
		}
		ctx := context.Background()
		if err := sp.ForceFlush(ctx); err != nil {
			t.Errorf("ForceFlush() = %v", err)
		}
		if err := sp.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() = %v", err)
		}
	}
}

// startSpan starts and ends a span under the W3C baggage header value
// bag with sp as the provider's processor and returns its attributes.
func startSpan(
	t *testing.T,
	sp sdktrace.SpanProcessor,
	bag string,
) []attribute.KeyValue {
	t.Helper()
	b, err := otelbaggage.Parse(bag)
	if err != nil {
		t.Fatal(err)
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(sp),
		sdktrace.WithSpanProcessor(rec),
	)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	ctx := otelbaggage.ContextWithBaggage(context.Background(), b)
	_, span := tp.Tracer("test").Start(ctx, "op")
	span.End()

	ended := rec.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans ended, want 1", len(ended))
	}
	return ended[0].Attributes()
}
