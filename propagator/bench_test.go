// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package propagator_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"

	"github.com/otelcaracal/otelcaracal/propagator"
)

// referenceHeader is a traceparent, the five caracal.* members and three
// third-party members, as a Caracal service receives them.
func referenceHeader() http.Header {
	h := http.Header{}
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.Set("baggage", "caracal.agent_session=session-child,caracal.delegation_edge=delegation-1,"+
		"caracal.hop=1,caracal.parent_edge=delegation-root,caracal.session=authority-record-1,"+
		"plan=pro,region=eu-west,tenant=example")
	return h
}

// BenchmarkExtractInject extracts the reference header and injects the
// result into an outbound header, with Caracal's propagator and with the
// composite of OpenTelemetry's TraceContext and Baggage it replaces.
func BenchmarkExtractInject(b *testing.B) {
	for _, bc := range []struct {
		name string
		p    propagation.TextMapPropagator
	}{
		{"caracal", propagator.New()},
		{"otel-tracecontext-baggage", propagation.NewCompositeTextMapPropagator(
			propagation.TraceContext{}, propagation.Baggage{})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			in := propagation.HeaderCarrier(referenceHeader())
			out := http.Header{}
			b.ReportAllocs()
			for b.Loop() {
				clear(out)
				ctx := bc.p.Extract(context.Background(), in)
				bc.p.Inject(ctx, propagation.HeaderCarrier(out))
			}
			if !strings.Contains(out.Get("baggage"), "caracal.hop=1") {
				b.Fatalf("baggage not propagated: %q", out.Get("baggage"))
			}
		})
	}
}

// BenchmarkExtractOversize shows that refusing an oversized header costs
// the same whatever its size.
func BenchmarkExtractOversize(b *testing.B) {
	for _, size := range []int{10 << 10, 1 << 20} {
		b.Run(strings.TrimSpace(formatSize(size)), func(b *testing.B) {
			in := propagation.HeaderCarrier(http.Header{"Baggage": {strings.Repeat("k=v,", size/4)}})
			b.ReportAllocs()
			for b.Loop() {
				propagator.Caracal{}.Extract(context.Background(), in)
			}
		})
	}
}

func formatSize(n int) string {
	if n >= 1<<20 {
		return itoa(n>>20) + "MB"
	}
	return itoa(n>>10) + "KB"
}
