// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package exporter_test

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/exporter"
)

func ExampleNewSpanProcessor() {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(exporter.NewSpanProcessor()),
		sdktrace.WithSpanProcessor(rec),
	)
	defer func() { _ = tp.Shutdown(context.Background()) }()

	// A request arrived with this envelope in its baggage.
	ctx, err := baggage.ContextWithEnvelope(context.Background(),
		baggage.Envelope{
			AgentSession:   "session-research",
			DelegationEdge: "edge-1",
			Hop:            1,
		})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, span := tp.Tracer("example").Start(ctx, "fetch")
	span.End()

	for _, kv := range rec.Ended()[0].Attributes() {
		fmt.Printf("%s=%s\n", kv.Key, kv.Value.Emit())
	}
	// Output:
	// caracal.agent_session.id=session-research
	// caracal.delegation.id=edge-1
	// caracal.hop=1
	// caracal.attribution=claimed
}

func ExampleChainExporter() {
	chains := exporter.NewChainExporter()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "planner"))),
		sdktrace.WithSpanProcessor(exporter.NewSpanProcessor()),
		sdktrace.WithSyncer(chains),
	)
	tracer := tp.Tracer("example")

	// A fixed trace id keeps the output stable.
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	ctx := trace.ContextWithRemoteSpanContext(context.Background(),
		trace.NewSpanContext(trace.SpanContextConfig{
			TraceID:    tid,
			SpanID:     trace.SpanID{1},
			TraceFlags: trace.FlagsSampled,
		}))

	ctx, _ = baggage.ContextWithEnvelope(ctx,
		baggage.Envelope{AgentSession: "session-planner"})
	_, span := tracer.Start(ctx, "plan")
	span.End()

	for _, edge := range []string{"edge-1", "edge-2"} {
		ctx, _ = baggage.AcceptDelegation(ctx, edge)
		_, span = tracer.Start(ctx, "work under "+edge)
		span.End()
	}

	_ = tp.Shutdown(context.Background())
	_ = chains.WriteText(os.Stdout)
	// Output:
	// trace 4bf92f3577b34da6a3ce929d0e0e4736
	// └─ session session-planner  hop 0  claimed  [planner: 1 span]
	//    └─ delegation edge-1 → session session-planner  hop 1  claimed  [planner: 1 span]
	//       └─ delegation edge-2 (parent edge-1) → session session-planner  hop 2  claimed  [planner: 1 span]
}

func ExampleBuildChains() {
	records := []exporter.SpanRecord{
		{
			TraceID:  "t1",
			SpanName: "GET /data",
			Service:  "tool-api",
			// Read from a tracing backend: the hop arrives as a float.
			Attributes: map[string]any{
				"caracal.agent_session.id":     "session-fetch",
				"caracal.delegation.id":        "edge-2",
				"caracal.delegation.parent_id": "edge-1",
				"caracal.hop":                  float64(2),
				"caracal.attribution":          "verified",
			},
		},
	}
	_ = exporter.WriteText(os.Stdout, exporter.BuildChains(records))
	// Output:
	// trace t1
	// └─ delegation edge-2 (parent edge-1) → session session-fetch  hop 2  verified  partial  [tool-api: 1 span]
}

func ExampleDescribe() {
	fmt.Println(exporter.Describe(baggage.Envelope{
		SubjectRecord:  "sid",
		AgentSession:   "agent",
		ParentEdge:     "parent-edge",
		DelegationEdge: "edge",
		Hop:            2,
	}))
	// Output:
	// subject:sid > session:agent > parent-delegation:parent-edge > delegation:edge
}
