// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway // import "github.com/otelcaracal/otelcaracal/gateway"

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
)

// NewHandler returns an otelhttp server handler for h, named operation,
// that first extracts the trace context and the Caracal envelope of each
// request into its context. The server span and every span started under
// it see the envelope, and so does h.
//
// NewHandler checks nothing: the envelope comes from unsigned baggage and
// any bearer token it reads is not verified. Span attribution under it is
// "claimed".
func NewHandler(h http.Handler, operation string, opts ...Option) http.Handler {
	c := newConfig(opts)
	return &extractor{
		next:        otelhttp.NewHandler(h, operation, c.otelhttp...),
		propagators: c.propagators,
	}
}

type extractor struct {
	next        http.Handler
	propagators propagation.TextMapPropagator
}

func (e *extractor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := e.propagators.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	e.next.ServeHTTP(w, r.WithContext(ctx))
}
