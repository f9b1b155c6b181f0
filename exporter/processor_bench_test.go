// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package exporter_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/contrib/processors/baggagecopy"
	otelbaggage "go.opentelemetry.io/otel/baggage"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otelcaracal/otelcaracal/exporter"
)

// nopProcessor is a synchronous span processor that does nothing, the
// baseline of BenchmarkSpanStartEnd.
type nopProcessor struct{}

func (nopProcessor) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

func (nopProcessor) OnEnd(sdktrace.ReadOnlySpan) {}

func (nopProcessor) Shutdown(context.Context) error { return nil }

func (nopProcessor) ForceFlush(context.Context) error { return nil }

// benchBaggage is the reference baggage: the five envelope members and
// three third-party members.
const benchBaggage = "caracal.agent_session=session-child," +
	"caracal.delegation_edge=delegation-1," +
	"caracal.parent_edge=delegation-root," +
	"caracal.session=authority-record-1," +
	"caracal.hop=1," +
	"tenant=example,region=eu-west,plan=pro"

// BenchmarkSpanStartEnd starts and ends a span under the reference baggage
// with no processor doing work, with baggagecopy copying every member, and
// with SpanProcessor.
func BenchmarkSpanStartEnd(b *testing.B) {
	bag, err := otelbaggage.Parse(benchBaggage)
	if err != nil {
		b.Fatal(err)
	}
	ctx := otelbaggage.ContextWithBaggage(context.Background(), bag)

	for _, bc := range []struct {
		name string
		sp   sdktrace.SpanProcessor
	}{
		{"none", nopProcessor{}},
		{
			"baggagecopy",
			baggagecopy.NewSpanProcessor(baggagecopy.AllowAllMembers),
		},
		{"exporter", exporter.NewSpanProcessor()},
	} {
		b.Run(bc.name, func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(
				sdktrace.WithSampler(sdktrace.AlwaysSample()),
				sdktrace.WithSpanProcessor(bc.sp),
			)
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			tracer := tp.Tracer("bench")

			b.ReportAllocs()
			for b.Loop() {
				_, span := tracer.Start(ctx, "op")
				span.End()
			}
		})
	}
}
