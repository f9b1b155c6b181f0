// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/caracaltest"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/mandate"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// BenchmarkTransport sends GET requests over loopback through the gateway
// transport, which routes them to a gateway with a cached mandate, the
// envelope and trace context, and through bare otelhttp.NewTransport with
// the same propagators, sending the same headers the caller set by hand.
// The difference is the cost of the gateway transport's own work.
func BenchmarkTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	cp := caracaltest.NewServer()
	defer cp.Close()
	cp.AddResource(toolResource, srv.URL)
	session, err := cp.NewSession("")
	if err != nil {
		b.Fatal(err)
	}
	sts, err := cp.STSClient()
	if err != nil {
		b.Fatal(err)
	}
	// A session-bound mandate (no delegation) is cached (§5.4).
	mandates := gateway.Mint(mandate.NewMintCache(sts), nil, 0)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer tp.Shutdown(context.Background())

	ctx, err := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{AgentSession: session})
	if err != nil {
		b.Fatal(err)
	}
	ctx, span := tp.Tracer("bench").Start(ctx, "caller")
	defer span.End()

	tok, err := mandates.Mandate(ctx, toolResource)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		rt     http.RoundTripper
		header string
	}{
		{"otelhttp", otelhttp.NewTransport(http.DefaultTransport,
			otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(propagator.New())), "Bearer " + tok},
		{"caracal-gateway", gateway.NewTransport(http.DefaultTransport,
			gateway.WithOTelHTTPOptions(otelhttp.WithTracerProvider(tp)),
			gateway.WithPropagators(propagation.TraceContext{}),
			gateway.WithGateway(srv.URL), gateway.WithMandates(mandates)), ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := &http.Client{Transport: bc.rt}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/tools", nil)
			req.Header.Set(gateway.ResourceHeader, toolResource)
			if bc.header != "" {
				req.Header.Set("Authorization", bc.header)
			}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
}
