// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Package otelcaracal is the Caracal SDK for Go programs instrumented
// with OpenTelemetry: a Client makes the control-plane calls of Caracal's
// SDKs, and the authority a call acts under is the context.Context it is
// given.
//
// A bound context carries the Caracal envelope (agent session,
// delegation, parent edge, subject record, hop) as OpenTelemetry baggage
// (package baggage) and, beside the baggage, never in it, the token it
// presents. So anything that already carries a context and its baggage,
// such as otelhttp and otelgrpc, carries the authority too; and Capture
// and Bind hand a context's authority to another goroutine.
//
// # Usage
//
// Configure a client from CARACAL_CONFIG or the CARACAL_* variables:
//
//	c, err := otelcaracal.New()
//
// Run work as a session, delegate to another session, call a resource
// through the Gateway with a mandate minted per request:
//
//	err = c.Session(ctx, func(ctx context.Context) error {
//		resp, err := c.Fetch(ctx, http.MethodGet, "resource://tools", "/v1/search?q=x",
//			nil, otelcaracal.TransportOptions{Scopes: []string{"tools:read"}})
//		...
//	}, otelcaracal.SessionOptions{Authority: otelcaracal.NarrowAuthority(otelcaracal.Narrowing{
//		Resource: "resource://tools", Scopes: []string{"tools:read"}, TTL: 10 * time.Minute,
//	})})
//
// Protect a service, verifying the mandate of each request:
//
//	v, err := mandate.NewVerifier(issuer, c.ZoneID(), "resource://tools")
//	http.Handle("/", otelhttp.NewHandler(c.Middleware(h, otelcaracal.BindOptions{Verifier: v}), "tools"))
//
// # Options
//
// A Client is configured with Options, the OpenTelemetry way. Each call
// takes a plain struct of parameters (SessionOptions, DelegateOptions,
// TransportOptions, …) whose zero value is the default, as the fields of
// an http.Request are.
//
// # Coordinator calls
//
// Coordinator calls follow Caracal protocol §4: creations carry an
// Idempotency-Key, a session start is retried twice and a delegation
// create once on 5xx and network errors (never on 429 or another 4xx),
// waiting as Retry-After says, and a 401 makes the client exchange a
// fresh lifecycle token once. Error responses are *CoordinatorError.
//
// Each coordinator call carries traceparent, tracestate and baggage, and
// runs in a client span. Caracal's own SDKs send the coordinator no
// baggage; here the control plane joins the trace as any OpenTelemetry
// service does. Baggage is unsigned and the coordinator ignores it: it
// authorizes nothing there.
//
// # Security
//
// Without a verifier, binding a request checks nothing: the envelope is
// what its baggage claims. With CARACAL_ENV=production, BindFromRequest
// refuses such a binding unless a verifier is given or
// UnsafeTrustedPropagation states that the network is trusted. Tokens and
// secrets never appear in errors, and the library logs nothing.
package otelcaracal // import "github.com/otelcaracal/otelcaracal"
