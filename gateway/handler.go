// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway // import "github.com/otelcaracal/otelcaracal/gateway"

import (
	"context"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/mandate"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// Verifier proves a mandate. *mandate.Verifier is one.
type Verifier interface {
	// Verify returns the claims of token, or an error that
	// mandate.StatusCode and mandate.ErrorCode map to a response.
	Verify(ctx context.Context, token string) (*mandate.Claims, error)
}

// NewHandler returns an otelhttp server handler for h, named operation,
// that first extracts the trace context and the Caracal envelope of each
// request into its context. The server span and every span started under
// it see the envelope, and so does h.
//
// Without WithVerifier, NewHandler checks nothing: the envelope comes from
// unsigned baggage and the bearer token it reads is not verified. Span
// attribution under it is "claimed".
//
// With WithVerifier, the bearer mandate of every request is verified before
// the server span starts. A request without a valid one is answered with
// the mandate error's status and JSON body (Caracal protocol §6.4), inside
// the server span, and never reaches h. Otherwise the mandate's claims
// replace the envelope read from baggage, mandate.ClaimsFromContext returns
// them, and spans are attributed "verified".
func NewHandler(h http.Handler, operation string, opts ...Option) http.Handler {
	c := newConfig(opts)
	inner := &verified{next: h}
	return &extractor{
		next:        otelhttp.NewHandler(inner, operation, c.otelhttp...),
		propagators: c.withCaracal,
		verifier:    c.verifier,
	}
}

type extractor struct {
	next        http.Handler
	propagators propagation.TextMapPropagator
	verifier    Verifier
}

type verifyErrKey struct{}

func (e *extractor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := e.propagators.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	if e.verifier != nil {
		ctx = e.verify(ctx)
	}
	e.next.ServeHTTP(w, r.WithContext(ctx))
}

// verify proves the subject token of ctx and returns ctx carrying either
// the verified claims and envelope, or the failure for the inner handler
// to answer with.
func (e *extractor) verify(ctx context.Context) context.Context {
	tok, ok := propagator.SubjectTokenFromContext(ctx)
	if !ok {
		return context.WithValue(ctx, verifyErrKey{}, mandate.ErrMissingToken)
	}
	claims, err := e.verifier.Verify(ctx, tok)
	if err != nil {
		return context.WithValue(ctx, verifyErrKey{}, err)
	}
	vctx, err := baggage.ContextWithEnvelope(ctx, claims.Envelope())
	if err != nil {
		return context.WithValue(ctx, verifyErrKey{}, err)
	}
	return mandate.ContextWithClaims(vctx, claims)
}

// verified answers a request whose mandate failed verification, inside the
// server span, and serves the others.
type verified struct{ next http.Handler }

func (v *verified) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err, ok := r.Context().Value(verifyErrKey{}).(error); ok {
		mandate.WriteError(w, err)
		return
	}
	v.next.ServeHTTP(w, r)
}
