// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Command quickstart runs, on loopback, an in-process Caracal control
// plane (package caracaltest: STS, coordinator state and Gateway), three
// otelhttp-instrumented services: a planner agent, a research agent the
// planner delegates to, and a tool API the research agent calls through a
// sub-agent of its own, and a source index that sub-agent calls over
// gRPC, instrumented with otelgrpc. One task goes two delegation hops
// deep and crosses both transports; every call to an agent or tool goes
// with a freshly minted mandate, through the Gateway over HTTP and
// directly over gRPC, and the receiving service verifies it. The program
// prints the delegation chain assembled from the spans and each service's
// spans with their attribution: claimed where read from baggage, verified
// where a mandate proved it.
//
//	go run ./examples/quickstart
//
// With OTEL_EXPORTER_OTLP_ENDPOINT set, the spans are also exported there
// over OTLP/HTTP.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// run starts the services, runs one task and prints what was recorded.
func run(ctx context.Context, w io.Writer) error {
	d, err := start(ctx, os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "")
	if err != nil {
		return err
	}
	defer d.close(context.WithoutCancel(ctx))

	answer, err := d.runTask(ctx, "otel propagation")
	if err != nil {
		return err
	}
	// An OTLP endpoint that cannot be reached fails the flush; the spans
	// recorded in process are printed all the same.
	flushErr := d.flush(ctx)
	fmt.Fprintf(w, "task answered: %s\n\n", answer)
	if err := d.print(w); err != nil {
		return err
	}
	if flushErr != nil {
		return fmt.Errorf("exporting spans: %w", flushErr)
	}
	return nil
}
