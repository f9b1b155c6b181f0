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
	rt := otelhttp.NewTransport(&injector{base: base, cfg: &c}, c.otelhttp...)
	if c.gatewayURL == "" {
		return rt
	}
	r, err := newRouter(c.gatewayURL, c.bindings)
	return &routing{next: rt, router: r, err: err}
}

// NewClient returns an http.Client on NewTransport(nil, opts...) that does
// not follow redirects of gateway-bound requests: their 3xx response is
// returned as it is. Other redirects are followed as usual.
func NewClient(opts ...Option) *http.Client {
	rt := NewTransport(nil, opts...)
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if rr, ok := rt.(*routing); ok && rr.err == nil && rr.bound(via[len(via)-1]) {
				return http.ErrUseLastResponse
			}
			if len(via) >= 10 {
				return fmt.Errorf("stopped after %d redirects", len(via))
			}
			return nil
		},
	}
}

type boundKey struct{}

// routing rewrites gateway-bound requests to the Gateway before otelhttp
// starts the client span, so the span describes the request as sent.
type routing struct {
	next   http.RoundTripper
	router *router
	err    error
}

func (t *routing) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.err != nil {
		return nil, t.err
	}
	if r.Response != nil && r.Response.Request != nil && t.bound(r.Response.Request) {
		return nil, ErrRedirect
	}
	u, resource, ok := t.resolve(r)
	if !ok {
		return t.next.RoundTrip(r)
	}
	out := r.Clone(context.WithValue(r.Context(), boundKey{}, resource))
	out.URL, out.Host = u, ""
	out.Header.Set(ResourceHeader, resource)
	return t.next.RoundTrip(out)
}

func (t *routing) resolve(r *http.Request) (*url.URL, string, bool) {
	named := strings.TrimSpace(r.Header.Get(ResourceHeader))
	if u, res, ok := t.router.resolve(r.URL, named); ok {
		return u, res, true
	}
	if named != "" && t.router.inGateway(r.URL) {
		return r.URL, named, true
	}
	return nil, "", false
}

func (t *routing) bound(r *http.Request) bool {
	_, _, ok := t.resolve(r)
	return ok
}

// injector writes the propagation headers and the mandate. It runs inside
// otelhttp's client span, or without one when otelhttp's filter skipped
// the request.
type injector struct {
	base http.RoundTripper
	cfg  *config
}

func (t *injector) RoundTrip(r *http.Request) (*http.Response, error) {
	// A RoundTripper must not change the request it is given: work on a
	// shallow copy with its own header map.
	out := *r
	out.Header = r.Header.Clone()
	if out.Header == nil {
		out.Header = http.Header{}
	}
	ctx := r.Context()
	resource, bound := ctx.Value(boundKey{}).(string)
	t.cfg.propagators(bound).Inject(ctx, keepExisting(out.Header))
	if bound {
		tok, err := t.cfg.mandates.Mandate(ctx, resource)
		if err != nil {
			closeBody(r)
			return nil, fmt.Errorf("caracal gateway: mandate for %q: %w", resource, err)
		}
		out.Header.Set("Authorization", "Bearer "+tok)
	}
	return t.base.RoundTrip(&out)
}

// closeBody closes the request body, as a RoundTripper must even when it
// fails.
func closeBody(r *http.Request) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
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
