// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway // import "github.com/otelcaracal/otelcaracal/gateway"

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/propagator"
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
// With WithGateway, gateway-bound requests are routed to the Gateway with
// X-Caracal-Resource and get "Authorization: Bearer" from the mandate
// source, overwriting any the caller set; other requests never get a
// mandate. A redirect of a gateway-bound request fails with ErrRedirect
// (NewClient returns the redirect response instead). Without WithGateway
// the transport never sets Authorization.
func NewTransport(base http.RoundTripper, opts ...Option) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	c := newConfig(opts)
	f := &front{next: otelhttp.NewTransport(&injector{base: base, cfg: &c}, c.otelhttp...)}
	if c.gatewayURL != "" {
		f.router, f.err = NewRouter(c.gatewayURL, c.bindings...)
	}
	return f
}

// NewClient returns an http.Client on NewTransport(nil, opts...) that does
// not follow redirects of gateway-bound requests: their 3xx response is
// returned as it is. Other redirects are followed as usual.
func NewClient(opts ...Option) *http.Client {
	f := NewTransport(nil, opts...).(*front)
	return &http.Client{
		Transport: f,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if f.bound(via[len(via)-1]) {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return fmt.Errorf("stopped after %d redirects", len(via))
			}
			return nil
		},
	}
}

// requestKey marks a request copied by front; its value is the resource of
// a gateway-bound request, or "".
type requestKey struct{}

// front copies each request once, so the layers below may change its
// headers, and rewrites gateway-bound requests to the Gateway before
// otelhttp starts the client span, so the span describes the request as
// sent.
type front struct {
	next   http.RoundTripper
	router *Router // nil without a gateway
	err    error
}

func (t *front) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.err != nil {
		closeBody(r)
		return nil, t.err
	}
	if r.Response != nil && r.Response.Request != nil && t.bound(r.Response.Request) {
		closeBody(r)
		return nil, ErrRedirect
	}
	u, resource, bound := t.resolve(r)
	// A RoundTripper must not change the request it is given: work on a
	// shallow copy with its own header map.
	out := r.WithContext(context.WithValue(r.Context(), requestKey{}, resource))
	out.Header = r.Header.Clone()
	if out.Header == nil {
		out.Header = http.Header{}
	}
	if bound {
		out.URL, out.Host = u, ""
		out.Header.Set(ResourceHeader, resource)
	}
	return t.next.RoundTrip(out)
}

// resolve returns where a gateway-bound request goes and its resource.
func (t *front) resolve(r *http.Request) (*url.URL, string, bool) {
	if t.router == nil {
		return nil, "", false
	}
	return t.router.Resolve(r)
}

func (t *front) bound(r *http.Request) bool {
	_, _, ok := t.resolve(r)
	return ok
}

// injector writes the propagation headers and the mandate. It runs inside
// otelhttp's client span, or without one when otelhttp's filter skipped
// the request. The request is a copy front or otelhttp made: its headers
// may be changed.
type injector struct {
	base http.RoundTripper
	cfg  *config
}

func (t *injector) RoundTrip(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	resource, _ := ctx.Value(requestKey{}).(string)
	bound := resource != ""
	h := r.Header

	// The other propagators do not touch baggage: Caracal owns the header
	// and merges what the caller set (Caracal protocol §2.3).
	t.cfg.others.Inject(ctx, keepExisting(h))
	bctx := ctx
	if !bound && t.cfg.propagation == PropagateGatewayOnly && !baggage.FromContext(ctx).IsZero() {
		// Gateway-only: third-party baggage goes on, the envelope does not.
		// An empty envelope always fits, so this cannot fail.
		bctx, _ = baggage.ContextWithEnvelope(ctx, baggage.Envelope{})
	}
	propagator.Caracal{}.Inject(bctx, propagation.HeaderCarrier(h))

	if bound {
		tok, err := t.cfg.mandates.Mandate(ctx, resource)
		if err != nil {
			closeBody(r)
			return nil, fmt.Errorf("caracal gateway: mandate for %q: %w", resource, err)
		}
		h.Set("Authorization", "Bearer "+tok)
	}
	return t.base.RoundTrip(r)
}

// closeBody closes the request body, as a RoundTripper must even when it
// fails.
func closeBody(r *http.Request) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
}

// keepExisting returns a carrier over h for the propagators other than
// Caracal. It keeps a valid traceparent and a non-empty tracestate h
// already has and drops an invalid traceparent (Caracal protocol §2.3
// steps 1–2), and ignores baggage, which Caracal writes.
func keepExisting(h http.Header) propagation.TextMapCarrier {
	c := &mergeCarrier{
		TextMapCarrier: withoutBaggage{propagation.HeaderCarrier(h)},
		keepTracestate: h.Get("Tracestate") != "",
	}
	if h.Get("Traceparent") != "" {
		sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), c))
		if c.keepTraceparent = sc.IsValid(); !c.keepTraceparent {
			h.Del("Traceparent")
		}
	}
	return c
}

type mergeCarrier struct {
	propagation.TextMapCarrier
	keepTraceparent, keepTracestate bool
}

func (c *mergeCarrier) Set(key, value string) {
	switch {
	case c.keepTraceparent && strings.EqualFold(key, "traceparent"),
		c.keepTracestate && strings.EqualFold(key, "tracestate"):
		return
	}
	c.TextMapCarrier.Set(key, value)
}

// withoutBaggage is the carrier the propagators other than Caracal write
// to, on HTTP and gRPC: the baggage key is Caracal's, which merges what
// the application set.
type withoutBaggage struct{ propagation.TextMapCarrier }

func (c withoutBaggage) Set(key, value string) {
	if !strings.EqualFold(key, "baggage") {
		c.TextMapCarrier.Set(key, value)
	}
}
