// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal // import "github.com/otelcaracal/otelcaracal"

import (
	"context"
	"fmt"
	"net/http"

	otelbaggage "go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/mandate"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// bindingKey is the context key of a binding.
type bindingKey struct{}

// binding marks a context this package bound.
type binding struct {
	// own means the context presents the client's own token, fetched
	// fresh from its token source when needed, instead of a pinned one.
	own bool
}

func withBinding(ctx context.Context, b binding) context.Context {
	return context.WithValue(ctx, bindingKey{}, &b)
}

func bindingFrom(ctx context.Context) (binding, bool) {
	b, ok := ctx.Value(bindingKey{}).(*binding)
	if !ok || b == nil {
		return binding{}, false
	}
	return *b, true
}

// isBound reports whether ctx acts under some authority: bound by this
// package, carrying a subject token, or carrying an agent session.
func isBound(ctx context.Context) bool {
	if _, ok := bindingFrom(ctx); ok {
		return true
	}
	if _, ok := propagator.SubjectTokenFromContext(ctx); ok {
		return true
	}
	return baggage.FromContext(ctx).AgentSession != ""
}

// Binding is the Caracal state of a context, detached from it: the
// baggage (with the envelope), the subject token, the verified claims,
// the active span and whether the context presents the client's own
// token. Capture takes one, Bind puts it on another context, so work
// handed to another goroutine or an executor with a context of its own
// (its own cancellation and deadline) acts under the same authority and
// within the same trace.
//
// A Binding is a value: OpenTelemetry baggage is immutable, so contexts
// bound from one Binding, and the context it was captured from, never see
// each other's changes. Printing a Binding never shows the token.
type Binding struct {
	bag    otelbaggage.Baggage
	token  func() string // nil without a subject token
	claims *mandate.Claims
	span   trace.Span
	state  *binding
}

// Capture returns the Caracal state of ctx.
func Capture(ctx context.Context) Binding {
	b := Binding{bag: otelbaggage.FromContext(ctx), span: trace.SpanFromContext(ctx)}
	if copied, err := otelbaggage.New(b.bag.Members()...); err == nil {
		b.bag = copied
	}
	if tok, ok := propagator.SubjectTokenFromContext(ctx); ok {
		b.token = func() string { return tok }
	}
	if c, ok := mandate.ClaimsFromContext(ctx); ok {
		b.claims = c
	}
	if s, ok := bindingFrom(ctx); ok {
		b.state = &s
	}
	return b
}

// Envelope returns the envelope of the captured baggage.
func (b Binding) Envelope() baggage.Envelope { return baggage.FromBaggage(b.bag) }

// String describes b by its envelope, without the token.
func (b Binding) String() string {
	return fmt.Sprintf("otelcaracal.Binding{Envelope:%+v SubjectToken:%t}", b.Envelope(), b.token != nil)
}

// GoString is String, so %#v does not print the fields either.
func (b Binding) GoString() string { return b.String() }

// Bind returns a copy of ctx carrying the state b holds, in place of
// whatever Caracal state and baggage ctx had; ctx's cancellation,
// deadline and other values stay. The span b captured becomes the active
// span, so spans started under the result are its children.
func Bind(ctx context.Context, b Binding) context.Context {
	ctx = otelbaggage.ContextWithBaggage(ctx, b.bag)
	tok := ""
	if b.token != nil {
		tok = b.token()
	}
	ctx = propagator.ContextWithSubjectToken(ctx, tok)
	ctx = mandate.ContextWithClaims(ctx, b.claims)
	ctx = context.WithValue(ctx, bindingKey{}, b.state)
	if b.span != nil && b.span.SpanContext().IsValid() {
		ctx = trace.ContextWithSpan(ctx, b.span)
	}
	return ctx
}

// BindOptions say how an inbound request is bound (Caracal protocol §3).
type BindOptions struct {
	// Verifier, when set, proves the request's bearer mandate: its signed
	// claims replace everything baggage claims, and must name a zone and
	// an application with a hop within 0..10. A *mandate.Verifier is one.
	Verifier gateway.Verifier
	// UnsafeTrustedPropagation states that the network in front of the
	// service is trusted to set the envelope: with CARACAL_ENV=production,
	// a request is then bound from its unverified baggage. It excludes
	// Verifier.
	UnsafeTrustedPropagation bool
	// AsApplication binds a request without a bearer token to the
	// application itself: its own root token, no session or delegation,
	// hop 0, whatever the request's baggage claims (the old allow_root).
	AsApplication bool
}

// BindFromRequest returns r's context bound to the authority r carries;
// see BindFromHeaders.
func (c *Client) BindFromRequest(r *http.Request, opts BindOptions) (context.Context, error) {
	return c.BindFromHeaders(r.Context(), r.Header, opts)
}

// BindFromHeaders returns ctx bound to the authority the headers h carry
// (Caracal protocol §3):
//
//   - with a bearer token and opts.Verifier, the token is verified and the
//     envelope comes from its claims alone (verified); the claims are in
//     the context for mandate.ClaimsFromContext;
//   - with a bearer token and no verifier, nothing is checked: the
//     envelope is what the baggage claims, and the token is pinned as the
//     context's subject token. With CARACAL_ENV=production this fails with
//     ErrProductionIngress unless opts.UnsafeTrustedPropagation is set;
//   - without a bearer token it fails (matching mandate.ErrMissingToken),
//     unless opts.AsApplication binds the application itself.
//
// Trace context is read from h only when ctx has no span yet, so a
// server span started by otelhttp stays the parent; third-party baggage
// is kept. A verification failure matches ErrVerification and wraps the
// verifier's error.
func (c *Client) BindFromHeaders(ctx context.Context, h http.Header, opts BindOptions) (context.Context, error) {
	if opts.Verifier != nil && opts.UnsafeTrustedPropagation {
		return ctx, fmt.Errorf("%w: a verifier and trusted propagation exclude each other", ErrConfig)
	}
	carrier := propagation.HeaderCarrier(h)
	in := otelbaggage.ContextWithBaggage(ctx, otelbaggage.Baggage{})
	in = propagator.ContextWithSubjectToken(in, "")
	in = mandate.ContextWithClaims(in, nil)
	if !trace.SpanContextFromContext(in).IsValid() {
		in = propagation.TraceContext{}.Extract(in, carrier)
	}
	in = propagator.Caracal{}.Extract(in, carrier)
	tok, hasToken := propagator.SubjectTokenFromContext(in)

	switch {
	case hasToken && opts.Verifier == nil && !opts.UnsafeTrustedPropagation && c.production:
		return ctx, ErrProductionIngress
	case !hasToken && !opts.AsApplication:
		return ctx, fmt.Errorf("otelcaracal: bind: %w", mandate.ErrMissingToken)
	case !hasToken:
		// The caller's claims of authority are dropped; trace context and
		// third-party baggage stay.
		out, err := baggage.ContextWithEnvelope(in, baggage.Envelope{})
		if err != nil {
			return ctx, err
		}
		return withBinding(out, binding{own: true}), nil
	case opts.Verifier != nil:
		return verifiedContext(ctx, in, tok, opts.Verifier)
	}
	return withBinding(in, binding{}), nil
}

// verifiedContext verifies tok and returns in with the claims' envelope.
func verifiedContext(ctx, in context.Context, tok string, v gateway.Verifier) (context.Context, error) {
	claims, err := v.Verify(in, tok)
	switch {
	case err != nil:
		return ctx, fmt.Errorf("%w: %w", ErrVerification, err)
	case claims == nil:
		return ctx, fmt.Errorf("%w: the verifier returned no claims", ErrVerification)
	case claims.ZoneID == "" || claims.ClientID == "":
		return ctx, fmt.Errorf("%w: the claims name no zone or no application", ErrVerification)
	case claims.HopCount < 0 || claims.HopCount > baggage.MaxHop:
		return ctx, fmt.Errorf("%w: hop_count %d is outside 0..%d", ErrVerification, claims.HopCount, baggage.MaxHop)
	}
	out, err := baggage.ContextWithEnvelope(in, claims.Envelope())
	if err != nil {
		return ctx, fmt.Errorf("%w: %w", ErrVerification, err)
	}
	return withBinding(mandate.ContextWithClaims(out, claims), binding{}), nil
}

// unauthorized is the body of a refused request (Caracal protocol §3,
// Go's context middleware).
const unauthorized = "invalid or missing authorization"

// Middleware returns a handler that binds each request with
// BindFromRequest and serves next with the bound context. A request that
// cannot be bound is answered 401 with the plain-text body "invalid or
// missing authorization", as Caracal's Go SDK does, whatever the reason;
// nothing of the failure is written or logged.
//
// Without opts.Verifier, Middleware checks nothing: the envelope is what
// the caller's baggage claims. Wrap it in otelhttp.NewHandler (or
// gateway.NewHandler) to have a server span: Middleware then keeps it as
// the parent of the handler's spans. That server span starts before the
// mandate is verified, so it is attributed from baggage; for a server span
// attributed from the verified mandate, use gateway.NewHandler with
// gateway.WithVerifier instead. It panics when opts sets both a verifier
// and trusted propagation.
func (c *Client) Middleware(next http.Handler, opts BindOptions) http.Handler {
	if opts.Verifier != nil && opts.UnsafeTrustedPropagation {
		panic("otelcaracal: Middleware with both a verifier and trusted propagation")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, err := c.BindFromRequest(r, opts)
		if err != nil {
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, unauthorized, http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
