// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway // import "github.com/otelcaracal/otelcaracal/gateway"

import (
	"context"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/otelcaracal/otelcaracal/propagator"
)

// Propagation says which requests of a gateway transport carry the Caracal
// envelope (Caracal protocol §7.2). Trace context goes on every request.
type Propagation int

const (
	// PropagateGatewayOnly writes the envelope on gateway-bound requests
	// only. It is the default when a gateway is configured.
	PropagateGatewayOnly Propagation = iota
	// PropagateAlways writes the envelope on every request. It is the
	// behaviour without a gateway.
	PropagateAlways
)

// config holds the settings of a transport or handler.
type config struct {
	others      propagation.TextMapPropagator // the other propagators
	withCaracal propagation.TextMapPropagator // others, then Caracal
	otelhttp    []otelhttp.Option
	gatewayURL  string
	bindings    []Binding
	mandates    MandateSource
	propagation Propagation
	verifier    Verifier
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o.apply(&c)
	}
	if c.others == nil {
		c.others = globalPropagator{}
	}
	// Caracal goes last so that its baggage header, a superset of any
	// other baggage propagator's, is the one that stays.
	c.withCaracal = propagation.NewCompositeTextMapPropagator(c.others, propagator.Caracal{})
	if c.gatewayURL == "" {
		c.propagation = PropagateAlways
	}
	if c.mandates == nil {
		c.mandates = SubjectToken()
	}
	// Propagation is done here, not by otelhttp, so that it does not depend
	// on otelhttp's filters: a request a filter keeps out of tracing still
	// carries its envelope.
	c.otelhttp = append(c.otelhttp, otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()))
	return c
}

// globalPropagator defers to the global propagator at each call, so one set
// after the transport or handler was built is still used. While none is
// set (the global one has no fields), it uses W3C trace context, so that
// a transport never silently drops the trace.
type globalPropagator struct{}

func (globalPropagator) get() propagation.TextMapPropagator {
	if p := otel.GetTextMapPropagator(); len(p.Fields()) > 0 {
		return p
	}
	return propagation.TraceContext{}
}

func (g globalPropagator) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	g.get().Inject(ctx, c)
}

func (g globalPropagator) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	return g.get().Extract(ctx, c)
}

func (g globalPropagator) Fields() []string { return g.get().Fields() }

// Option configures NewTransport, NewClient and NewHandler, and the gRPC
// constructors (GRPCDialOptions, GRPCServerOptions and the handlers and
// credentials they are made of). Options that concern only one side or
// only one protocol are ignored by the others.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithPropagators sets the propagators used beside the Caracal propagator,
// which is always used and always last. The default is the global
// propagator, otel.GetTextMapPropagator, read at each request, or W3C
// trace context while no global propagator is set. A nil p keeps the
// default.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) {
		if p != nil {
			c.others = p
		}
	})
}

// WithOTelHTTPOptions passes options to otelhttp, such as a tracer
// provider, span name formatter or filter. Its propagator option is
// overridden: use WithPropagators.
func WithOTelHTTPOptions(opts ...otelhttp.Option) Option {
	return optionFunc(func(c *config) {
		c.otelhttp = append(c.otelhttp, opts...)
	})
}

// WithGateway makes a transport route requests through the Caracal Gateway
// at gatewayURL (which may include a base path). A request is
// gateway-bound when its URL lies under a binding's upstream prefix,
// rewritten to the gateway with X-Caracal-Resource set, or when it already
// addresses the gateway and names its resource in X-Caracal-Resource.
// Only gateway-bound requests get a mandate. An invalid URL or binding
// makes every request of the transport fail with the error.
func WithGateway(gatewayURL string, bindings ...Binding) Option {
	return optionFunc(func(c *config) {
		c.gatewayURL = gatewayURL
		c.bindings = append(c.bindings, bindings...)
	})
}

// WithMandates sets where a transport gets the mandate of a gateway-bound
// request. The default is SubjectToken. A nil src keeps the default.
func WithMandates(src MandateSource) Option {
	return optionFunc(func(c *config) {
		if src != nil {
			c.mandates = src
		}
	})
}

// WithPropagation sets which requests of a transport with a gateway carry
// the envelope. The default is PropagateGatewayOnly: other requests carry
// the trace context and third-party baggage, but no caracal.* member.
func WithPropagation(p Propagation) Option {
	return optionFunc(func(c *config) { c.propagation = p })
}

// WithVerifier makes a handler verify the bearer mandate of every request
// with v before serving it (Caracal protocol §3 step 5). A request without
// a valid mandate is answered with the error's status and JSON body. The
// mandate's signed claims replace the envelope's baggage values and spans
// are attributed "verified". A nil v keeps the default: no verification.
func WithVerifier(v Verifier) Option {
	return optionFunc(func(c *config) {
		if v != nil {
			c.verifier = v
		}
	})
}
