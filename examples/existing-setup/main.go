// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Command existing-setup is a service already instrumented with otelhttp
// and an SDK tracer provider, changed in two places to carry and record
// Caracal's authority envelope. The two changes are marked "otelcaracal".
//
//	go run ./examples/existing-setup
//
// Instead of the propagator line, OTEL_PROPAGATORS=tracecontext,caracal
// with autoprop.NewTextMapPropagator (or propagator.FromEnv) does the same.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otelcaracal/otelcaracal/exporter"
	"github.com/otelcaracal/otelcaracal/propagator"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "existing-setup:", err)
		os.Exit(1)
	}
}

// setup is the service's existing OpenTelemetry setup.
func setup(w io.Writer, extra ...sdktrace.SpanProcessor) (*sdktrace.TracerProvider, error) {
	stdout, err := stdouttrace.New(stdouttrace.WithWriter(w), stdouttrace.WithPrettyPrint())
	if err != nil {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithSyncer(stdout),
		sdktrace.WithSpanProcessor(exporter.NewSpanProcessor()), // otelcaracal: record the envelope on spans.
	}
	for _, p := range extra {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagator.New()) // otelcaracal: was propagation.TraceContext{} + propagation.Baggage{}.
	return tp, nil
}

// run serves one request, sent as a Caracal agent would send it.
func run(ctx context.Context, w io.Writer, extra ...sdktrace.SpanProcessor) error {
	tp, err := setup(w, extra...)
	if err != nil {
		return err
	}
	defer tp.Shutdown(context.WithoutCancel(ctx))

	// The service, unchanged.
	handler := otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, span := otel.Tracer("inventory").Start(r.Context(), "look up stock")
		defer span.End()
		io.WriteString(w, "42 in stock")
	}), "inventory")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Shutdown(context.WithoutCancel(ctx))

	// A caller acting under a delegation, as a Caracal SDK sends it.
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ln.Addr().String()+"/stock", nil)
	if err != nil {
		return err
	}
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	req.Header.Set("baggage", "caracal.agent_session=session-child,caracal.delegation_edge=delegation-1,"+
		"caracal.parent_edge=delegation-root,caracal.session=authority-record-1,caracal.hop=1,tenant=example")
	client := http.Client{}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "response: %s\n", body)
	return nil
}
