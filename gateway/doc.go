// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Package gateway puts Caracal's authority context on HTTP clients and
// servers instrumented with otelhttp.
//
// NewTransport (and NewClient, an http.Client on it) is an otelhttp client
// transport that also writes the envelope of each request's context. With
// WithGateway, requests under a Binding's upstream prefix, or addressed to
// the Gateway with X-Caracal-Resource, are routed to Caracal's Gateway with
// a mandate from a MandateSource, such as Mint, which mints one per request
// through the STS. NewHandler is an otelhttp server handler that reads the
// envelope before the server span starts, so every span of the request
// carries it; with WithVerifier it also proves the request's mandate.
//
//	client := gateway.NewClient(
//		gateway.WithGateway(gatewayURL, gateway.Binding{
//			Resource: "resource://tools", UpstreamPrefix: "https://tools.internal",
//		}),
//		gateway.WithMandates(gateway.Mint(cache, []string{"tools:read"}, 0)),
//	)
//	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
//	resp, err := client.Do(req)
//
//	http.Handle("/tools", gateway.NewHandler(tools, "tools", gateway.WithVerifier(v)))
//
// For gRPC, GRPCDialOptions and GRPCServerOptions give otelgrpc's
// handlers the same propagation, a per-RPC credential that sends the
// mandate to configured targets, and, with WithVerifier, interceptors that
// refuse calls without a valid mandate:
//
//	conn, err := grpc.NewClient(target, gateway.GRPCDialOptions(
//		gateway.WithGRPCTargets(gateway.GRPCTarget{Resource: "resource://index", Authority: target}),
//		gateway.WithMandates(gateway.Mint(cache, nil, 0)))...)
//	srv := grpc.NewServer(gateway.GRPCServerOptions(gateway.WithVerifier(v))...)
//
// The Gateway proxies HTTP only, so a gRPC service is called directly and
// must check what the Gateway would: verify the delegated mandate the STS
// mints (use=gateway, audience the issuer, target the service) and accept
// each one once:
//
//	v, err := mandate.NewVerifier(issuer, zone, issuer,
//		mandate.WithAllowedUses(mandate.UseGateway),
//		mandate.WithRequiredTargets("resource://index"),
//		mandate.WithReplayCheck())
//
// Build outbound requests with http.NewRequestWithContext: the envelope is
// read from the request's context, and http.NewRequest gives a request an
// empty one.
//
// # Security
//
// Without WithVerifier, NewHandler checks nothing: the envelope it reads
// from baggage is what the caller claims, and the bearer token it reads is
// not verified. Never authorize on them. The package does not read
// CARACAL_ENV: the production guard of Caracal protocol §3 is applied by
// otelcaracal.Client.BindFromRequest and Middleware. A mandate is only ever sent to the
// Gateway, and a redirect of a gateway-bound request is not followed.
package gateway // import "github.com/otelcaracal/otelcaracal/gateway"
