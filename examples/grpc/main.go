// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Command grpc runs, on loopback, an in-process Caracal control plane
// (package caracaltest), a gRPC tool service and an agent that calls it
// with delegated authority, both instrumented with otelgrpc through
// package gateway. A planner hands a task to the agent under a delegation;
// the agent calls the tool once (unary) and streams its sources (server
// streaming), each call with a mandate minted for it. The tool verifies
// every mandate before its server span starts. The program prints the
// delegation chain assembled from the spans and the spans of both sides
// with their attribution: claimed on the agent's side, where the envelope
// is read from baggage, verified on the tool's, where a mandate proved it.
//
//	go run ./examples/grpc
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "grpc:", err)
		os.Exit(1)
	}
}

// run starts the tool and the agent, runs one task and prints what was
// recorded.
func run(ctx context.Context, w io.Writer) error {
	d, err := start()
	if err != nil {
		return err
	}
	defer d.close(context.WithoutCancel(ctx))

	answer, sources, err := d.task(ctx, "otel propagation")
	if err != nil {
		return err
	}
	if err := d.stop(); err != nil {
		return err
	}
	if err := d.flush(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "search: %s\nsources: %v\n\n", answer, sources)
	return d.print(w)
}
