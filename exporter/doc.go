// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Package exporter is the trace-SDK side of otelcaracal: a span processor
// that records on every span who acted under whose delegation, and an
// exporter that assembles those spans into delegation chains.
//
// SpanProcessor reads the Caracal envelope (package baggage) from the
// parent context of each span as it starts and sets the caracal.*
// attributes named by the *Key constants. The envelope travels in W3C
// baggage, which is unsigned: anyone who sends a request chooses it. Its
// values are therefore marked AttributionClaimed, which means the caller
// said so and nothing more. Only the claims of a verified mandate are
// AttributionVerified.
//
// ChainExporter keeps the spans that carry those attributes and builds a
// Chain per trace: a tree of Links, one per delegation, from the session
// that started the work down to the last hop. BuildChains does the same
// for SpanRecords read from a tracing backend, and WriteText and WriteJSON
// render the result.
//
// # Usage
//
//	chains := exporter.NewChainExporter()
//	tp := sdktrace.NewTracerProvider(
//		sdktrace.WithSpanProcessor(exporter.NewSpanProcessor()),
//		sdktrace.WithBatcher(otlpExporter),
//		sdktrace.WithSyncer(chains), // while debugging
//	)
//	defer tp.Shutdown(ctx)
//	...
//	_ = chains.WriteText(os.Stdout)
//
// Describe gives the one-line form of an envelope for logs and errors.
package exporter // import "github.com/otelcaracal/otelcaracal/exporter"
