// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway // import "github.com/otelcaracal/otelcaracal/gateway"

import (
	"context"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// NewTransport returns an otelhttp client transport over base that also
// writes the Caracal envelope of each request's context, with the trace
// context, into the request headers. A nil base means
// http.DefaultTransport.
//
// Headers the request already has are merged as Caracal's SDKs do
// (Caracal protocol §2.3): a valid traceparent and a non-empty tracestate
// set by the caller are kept, third-party baggage members set by the
// caller win over the context's, and stale caracal.* members are removed.
//
// It never sets Authorization.
func NewTransport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	c := newConfig(opts)
	return otelhttp.NewTransport(&injector{base: base, propagators: c.propagators}, c.otelhttp...)
}

// injector writes the propagation headers. It runs inside otelhttp's
// client span, or without one when otelhttp's filter skipped the request.
type injector struct {
	base        http.RoundTripper
	propagators propagation.TextMapPropagator
}

func (t *injector) RoundTrip(r *http.Request) (*http.Response, error) {
	// A RoundTripper must not change the request it is given: work on a
	// shallow copy with its own header map.
	out := *r
	out.Header = r.Header.Clone()
	if out.Header == nil {
		out.Header = http.Header{}
	}
	t.propagators.Inject(r.Context(), keepExisting(out.Header))
	return t.base.RoundTrip(&out)
}

// keepExisting returns a carrier over h that keeps a valid traceparent and
// a non-empty tracestate h already has (Caracal protocol §2.3 steps 1–2).
func keepExisting(h http.Header) propagation.TextMapCarrier {
	if h.Get("traceparent") == "" {
		return propagation.HeaderCarrier(h)
	}
	c := propagation.HeaderCarrier(h)
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), c))
	return &mergeCarrier{
		HeaderCarrier:   c,
		keepTraceparent: sc.IsValid(),
		keepTracestate:  h.Get("tracestate") != "",
	}
}

type mergeCarrier struct {
	propagation.HeaderCarrier
	keepTraceparent, keepTracestate bool
}

func (c *mergeCarrier) Set(key, value string) {
	switch http.CanonicalHeaderKey(key) {
	case "Traceparent":
		if c.keepTraceparent {
			return
		}
	case "Tracestate":
		if c.keepTracestate {
			return
		}
	}
	c.HeaderCarrier.Set(key, value)
}
