// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal // import "github.com/otelcaracal/otelcaracal"

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/propagator"
)

// CallOptions are the options of Headers.
type CallOptions struct {
	// AsApplication lets a call on a context that is not bound act as the
	// application itself, with its own root token and no envelope (the
	// old allow_root). On a bound context it changes nothing.
	AsApplication bool
}

// Headers returns the headers that carry ctx's authority to another
// service, for transports this package does not wrap (Caracal protocol
// §3, last paragraph): traceparent, tracestate and baggage with the
// envelope, and "Authorization: Bearer" with the context's token. That is
// the client's own token, fresh from its token source, for a context a
// Session or an application binding made, else the subject token pinned
// on ctx.
//
// The client's own token is its lifecycle mandate (use=session, scope
// agent:lifecycle): it lets its holder act as the application at the
// coordinator. Send these headers only to services of the same
// application; for a resource, send a mandate minted for it
// (MintMandate) through the Gateway instead.
//
// traceparent names ctx's span, or a new random trace when ctx has none.
// A context that is not bound fails with ErrNotBound, unless
// opts.AsApplication is set: the headers are then a bare root, a
// traceparent and the application's root token.
func (c *Client) Headers(ctx context.Context, opts CallOptions) (http.Header, error) {
	tok, bound, err := c.subjectToken(ctx, opts.AsApplication)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	carrier := propagation.HeaderCarrier(h)
	if !trace.SpanContextFromContext(ctx).IsValid() {
		ctx = freshSpan(ctx, true)
	}
	propagation.TraceContext{}.Inject(ctx, carrier)
	if bound {
		propagator.Caracal{}.Inject(ctx, carrier)
	} else {
		h.Del("Tracestate")
	}
	h.Set("Authorization", "Bearer "+tok)
	return h, nil
}

// subjectToken returns the token ctx presents and whether ctx is bound:
// the client's own token for an own-token binding, else the pinned
// subject token, else, with asApp, the application's root token.
func (c *Client) subjectToken(ctx context.Context, asApp bool) (string, bool, error) {
	if b, ok := bindingFrom(ctx); ok && b.own {
		tok, err := c.lifecycleToken(ctx, false)
		return tok, true, err
	}
	if tok, ok := propagator.SubjectTokenFromContext(ctx); ok {
		return tok, true, nil
	}
	if asApp {
		tok, err := c.lifecycleToken(ctx, false)
		return tok, false, err
	}
	return "", false, ErrNotBound
}
