// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package exporter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/exporter"
)

// runTwoHops records the two-hop scenario through one tracer provider per
// service, each with a SpanProcessor and e, and shuts the providers down.
func runTwoHops(t *testing.T, e sdktrace.SpanExporter) {
	t.Helper()
	tid, err := trace.TraceIDFromHex(twoHopTraceID)
	if err != nil {
		t.Fatal(err)
	}
	parent := trace.ContextWithRemoteSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{
			TraceID:    tid,
			SpanID:     trace.SpanID{1},
			TraceFlags: trace.FlagsSampled,
		}))

	providers := make(map[string]*sdktrace.TracerProvider)
	for _, s := range twoHopSpans {
		tp := providers[s.service]
		if tp == nil {
			tp = sdktrace.NewTracerProvider(
				sdktrace.WithResource(resource.NewSchemaless(
					attribute.String("service.name", s.service))),
				sdktrace.WithSpanProcessor(exporter.NewSpanProcessor()),
				sdktrace.WithSyncer(e),
			)
			providers[s.service] = tp
		}
		ctx, err := baggage.ContextWithEnvelope(parent, s.env)
		if err != nil {
			t.Fatal(err)
		}
		_, span := tp.Tracer("test").Start(ctx, s.name)
		span.End()
	}
	for _, tp := range providers {
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestChainExporter(t *testing.T) {
	e := exporter.NewChainExporter()
	runTwoHops(t, e)

	got, want := e.Chains(), []exporter.Chain{twoHopChain()}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Chains() =\n%s\nwant\n%s", toJSON(t, got), toJSON(t, want))
	}

	var text bytes.Buffer
	if err := e.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	golden(t, "two_hops.golden", text.String())

	var js bytes.Buffer
	if err := e.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back []exporter.Chain
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Errorf("WriteJSON() round trip =\n%s\nwant\n%s",
			js.String(), toJSON(t, want))
	}
}

func TestChainExporterDropsOtherSpans(t *testing.T) {
	e := exporter.NewChainExporter()
	spans := tracetest.SpanStubs{
		{Name: "plain"},
		{Name: "third-party", Attributes: []attribute.KeyValue{
			attribute.String("tenant", "example"),
			attribute.String("caracal.zone", "zone-1"),
		}},
	}.Snapshots()
	if err := e.ExportSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	if got := e.Chains(); len(got) != 0 {
		t.Errorf("Chains() = %s, want none", toJSON(t, got))
	}
}

func TestChainExporterConcurrent(t *testing.T) {
	const workers, batches = 8, 50
	e := exporter.NewChainExporter()
	spans := tracetest.SpanStubs{{
		Name: "op",
		Attributes: []attribute.KeyValue{
			exporter.AgentSessionKey.String("session-1"),
			exporter.HopKey.Int(0),
			exporter.AttributionKey.String(exporter.AttributionClaimed),
		},
	}}.Snapshots()

	ctx := context.Background()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range batches {
				if err := e.ExportSpans(ctx, spans); err != nil {
					t.Error(err)
					return
				}
				_ = e.Chains()
			}
		})
	}
	wg.Wait()

	chains := e.Chains()
	if len(chains) != 1 || len(chains[0].Roots) != 1 {
		t.Fatalf("Chains() = %s, want one root", toJSON(t, chains))
	}
	if got, want := chains[0].Roots[0].SpanCount, workers*batches; got != want {
		t.Errorf("SpanCount = %d, want %d", got, want)
	}
}

func TestChainExporterShutdown(t *testing.T) {
	ctx := context.Background()
	e := exporter.NewChainExporter()
	spans := tracetest.SpanStubs{{
		Name:       "op",
		Attributes: []attribute.KeyValue{exporter.HopKey.Int(1)},
	}}.Snapshots()

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	err := e.ExportSpans(canceled, spans)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("ExportSpans(canceled) = %v, want %v", err, context.Canceled)
	}
	if err := e.Shutdown(canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown(canceled) = %v, want %v", err, context.Canceled)
	}
	if err := e.ExportSpans(ctx, spans); err != nil {
		t.Errorf("ExportSpans() after a canceled Shutdown = %v", err)
	}

	for i := range 2 {
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown() #%d = %v", i+1, err)
		}
	}
	err = e.ExportSpans(ctx, spans)
	if !errors.Is(err, exporter.ErrShutdown) {
		t.Errorf("ExportSpans() after Shutdown = %v, want %v",
			err, exporter.ErrShutdown)
	}
	if got := e.Chains(); len(got) != 1 || got[0].Roots[0].SpanCount != 1 {
		t.Errorf("Chains() after Shutdown = %s, want the earlier span",
			toJSON(t, got))
	}
}
