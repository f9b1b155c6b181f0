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

// config holds the settings of a transport or handler.
type config struct {
	propagators propagation.TextMapPropagator
	otelhttp    []otelhttp.Option
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o.apply(&c)
	}
	var p propagation.TextMapPropagator = globalPropagator{}
	if c.propagators != nil {
		p = c.propagators
	}
	// Caracal goes last so that its baggage header, a superset of any
	// other baggage propagator's, is the one that stays.
	c.propagators = propagation.NewCompositeTextMapPropagator(p, propagator.Caracal{})
	// Propagation is done here, not by otelhttp, so that it does not depend
	// on otelhttp's filters: a request a filter keeps out of tracing still
	// carries its envelope.
	c.otelhttp = append(c.otelhttp, otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator()))
	return c
}

// globalPropagator defers to the global propagator at each call, so one set
// after the transport or handler was built is still used.
type globalPropagator struct{}

func (globalPropagator) Inject(ctx context.Context, c propagation.TextMapCarrier) {
	otel.GetTextMapPropagator().Inject(ctx, c)
}

func (globalPropagator) Extract(ctx context.Context, c propagation.TextMapCarrier) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, c)
}

func (globalPropagator) Fields() []string { return otel.GetTextMapPropagator().Fields() }

// Option configures NewTransport and NewHandler.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithPropagators sets the propagators used beside the Caracal propagator,
// which is always used and always last. The default is the global
// propagator, otel.GetTextMapPropagator, read at each request. A nil p
// keeps the default.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return optionFunc(func(c *config) {
		if p != nil {
			c.propagators = p
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
