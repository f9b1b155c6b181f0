// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package propagator_test

import (
	"context"
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/propagator"
)

func ExampleNew() {
	otel.SetTextMapPropagator(propagator.New())

	// A caller acting under a delegation.
	ctx, _ := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{
		AgentSession: "session-research", DelegationEdge: "edge-1", Hop: 1,
	})
	ctx, _ = baggage.ContextWithMember(ctx, "tenant", "hooli")
	h := http.Header{}
	otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(h))
	fmt.Println(h.Get("baggage"))

	// The receiver.
	h.Set("Authorization", "Bearer opaque-token")
	in := otel.GetTextMapPropagator().Extract(context.Background(), propagation.HeaderCarrier(h))
	tok, _ := propagator.SubjectTokenFromContext(in)
	fmt.Printf("%+v %s\n", baggage.FromContext(in), tok)
	// Output:
	// caracal.agent_session=session-research,caracal.delegation_edge=edge-1,caracal.hop=1,tenant=hooli
	// {AgentSession:session-research DelegationEdge:edge-1 ParentEdge: SubjectRecord: Hop:1} opaque-token
}

func ExampleFromEnv() {
	// OTEL_PROPAGATORS="tracecontext, caracal"
	p, err := propagator.FromEnv()
	if err != nil {
		fmt.Println(err)
		return
	}
	otel.SetTextMapPropagator(p)
	fmt.Println(len(p.Fields()) > 0)
	// Output: true
}
