// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway // import "github.com/otelcaracal/otelcaracal/gateway"

import (
	"context"
	"slices"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	"github.com/otelcaracal/otelcaracal/propagator"
)

// NewGRPCClientHandler returns otelgrpc's client stats handler that writes
// the Caracal envelope of each call's context, with the trace context of
// the client span, into the call's outgoing metadata. Use it with
// grpc.WithStatsHandler in place of otelgrpc.NewClientHandler. Options
// given to otelgrpc with WithOTelGRPCOptions apply; its propagator option
// is overridden: use WithPropagators.
//
// Baggage metadata the application set itself is merged rather than
// overwritten, every value of it (Caracal protocol §2.3 step 3): its
// third-party members win over the context's, stale caracal.* members are
// removed and the envelope is written from the context, as one baggage
// value. The trace context is the client span's, replacing any the
// application set (§2.5: the map form always writes a fresh traceparent).
//
// The envelope goes on every call: WithPropagation and WithGateway concern
// NewTransport only. The handler never writes authorization metadata; see
// NewGRPCCredentials.
func NewGRPCClientHandler(opts ...Option) stats.Handler {
	c := newGRPCConfig(opts)
	// otelgrpc injects with its propagator right after it starts the
	// client span, whatever its filter decides: the trace context written
	// is the client span's, into the copy of the metadata otelgrpc makes
	// anyway.
	inject := otelgrpc.WithPropagators(grpcInjector{c.others})
	return otelgrpc.NewClientHandler(append(c.otelgrpc, inject)...)
}

// grpcInjector is the propagator otelgrpc's client handler is given: the
// other propagators, kept off the baggage key, then Caracal, which merges
// every baggage value the application set.
type grpcInjector struct {
	others propagation.TextMapPropagator
}

var _ propagation.TextMapPropagator = grpcInjector{}

// Inject writes the trace context and the envelope of ctx to carrier,
// otelgrpc's carrier of the call's outgoing metadata.
func (i grpcInjector) Inject(
	ctx context.Context,
	carrier propagation.TextMapCarrier,
) {
	i.others.Inject(ctx, withoutBaggage{carrier})
	c := outgoingCarrier{TextMapCarrier: carrier}
	for _, k := range carrier.Keys() {
		if strings.EqualFold(k, "baggage") {
			// otelgrpc's carrier returns only the first value of a key:
			// read them all from the call's metadata.
			md, _ := metadata.FromOutgoingContext(ctx)
			c.baggage = md.Get("baggage")
			break
		}
	}
	propagator.Caracal{}.Inject(ctx, c)
}

// Extract returns ctx: a client handler does not extract.
func (grpcInjector) Extract(
	ctx context.Context,
	_ propagation.TextMapCarrier,
) context.Context {
	return ctx
}

// Fields returns the keys Inject sets.
func (i grpcInjector) Fields() []string {
	return slices.Concat(i.others.Fields(), propagator.Caracal{}.Fields())
}

// outgoingCarrier is otelgrpc's carrier of the outgoing metadata with
// every baggage value the application set, for the Caracal propagator to
// merge. When nothing is left to send of them, the carrier, which cannot
// delete, is left with an empty baggage value: a receiver reads it as no
// baggage.
type outgoingCarrier struct {
	propagation.TextMapCarrier
	baggage []string
}

// Values returns every baggage value, or the value of another key.
func (c outgoingCarrier) Values(key string) []string {
	if strings.EqualFold(key, "baggage") {
		return c.baggage
	}
	if v := c.Get(key); v != "" {
		return []string{v}
	}
	return nil
}
