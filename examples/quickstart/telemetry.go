// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"

	"github.com/otelcaracal/otelcaracal/exporter"
)

// telemetry is the trace pipeline of every service: Caracal's span
// processor, the chain exporter, an in-memory copy for printing and, when
// configured, OTLP.
type telemetry struct {
	chains    *exporter.ChainExporter
	memory    *tracetest.InMemoryExporter
	otlp      sdktrace.SpanExporter
	providers []*sdktrace.TracerProvider
}

func newTelemetry(ctx context.Context, otlp bool) (*telemetry, error) {
	t := &telemetry{chains: exporter.NewChainExporter(), memory: tracetest.NewInMemoryExporter()}
	if otlp {
		// The endpoint and headers come from the OTEL_EXPORTER_OTLP_*
		// variables.
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, err
		}
		t.otlp = exp
	}
	return t, nil
}

// provider returns the tracer provider of one service.
func (t *telemetry) provider(service string) *sdktrace.TracerProvider {
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))),
		sdktrace.WithSpanProcessor(exporter.NewSpanProcessor()),
		sdktrace.WithSyncer(t.chains),
		sdktrace.WithSyncer(t.memory),
	}
	if t.otlp != nil {
		opts = append(opts, sdktrace.WithBatcher(t.otlp))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.providers = append(t.providers, tp)
	return tp
}

func (t *telemetry) flush(ctx context.Context) error {
	var errs []error
	for _, tp := range t.providers {
		errs = append(errs, tp.ForceFlush(ctx))
	}
	return errors.Join(errs...)
}

func (t *telemetry) shutdown(ctx context.Context) error {
	var errs []error
	for _, tp := range t.providers {
		errs = append(errs, tp.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// flush stops the gRPC source index once its calls are done, then flushes
// every tracer provider. A gRPC server span ends after the client has its
// answer: stopping the index first makes sure the spans of its last call
// have ended. The demonstration calls no service after flush.
func (d *demo) flush(ctx context.Context) error {
	d.index.stop()
	return d.telemetry.flush(ctx)
}

// print writes the delegation chains and then each service's spans.
func (d *demo) print(w io.Writer) error {
	fmt.Fprintln(w, "delegation chain:")
	if err := exporter.WriteText(w, d.telemetry.chains.Chains()); err != nil {
		return err
	}
	byService := map[string][]tracetest.SpanStub{}
	for _, s := range d.telemetry.memory.GetSpans() {
		svc := serviceName(s.Resource)
		byService[svc] = append(byService[svc], s)
	}
	for _, svc := range slices.Sorted(maps.Keys(byService)) {
		fmt.Fprintf(w, "\n%s spans:\n", svc)
		spans := byService[svc]
		slices.SortFunc(spans, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
		for _, s := range spans {
			fmt.Fprintf(w, "  %-28s %s\n", s.Name, attribution(s))
		}
	}
	return nil
}

func serviceName(r *resource.Resource) string {
	if v, ok := r.Set().Value(semconv.ServiceNameKey); ok {
		return v.AsString()
	}
	return "unknown"
}

// attribution renders the caracal.* attributes of a span.
func attribution(s tracetest.SpanStub) string {
	var parts []string
	for _, kv := range s.Attributes {
		if strings.HasPrefix(string(kv.Key), "caracal.") {
			parts = append(parts, fmt.Sprintf("%s=%s", strings.TrimPrefix(string(kv.Key), "caracal."), kv.Value.Emit()))
		}
	}
	if len(parts) == 0 {
		return "(no envelope)"
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
