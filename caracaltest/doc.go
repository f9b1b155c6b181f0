// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Package caracaltest runs an in-process Caracal control plane on
// loopback, for tests and examples, in the spirit of net/http/httptest.
//
// A Server is one zone with one application. It serves, over real HTTP on
// 127.0.0.1:
//
//   - the zone's ES256 signing keys as a JWKS, with rotation;
//   - an STS that exchanges the application's client secret for real
//     mandates carrying every claim of the Caracal protocol §6.2;
//   - the coordinator calls of §4: start, terminate, heartbeat and lease
//     sessions; create, inspect and revoke delegations;
//   - a Gateway that applies §7.3–7.5: bearer checks, JTI replay,
//     revocation, X-Caracal-Resource routing, a use=resource mandate to the
//     upstream, and the header stripping of a real Gateway.
//
// Tokens are signed and verified by package mandate; there is no second JWT
// implementation.
//
//	srv := caracaltest.NewServer()
//	defer srv.Close()
//	srv.AddResource("resource://tools", upstream.URL, "tools:read")
//
// The Server is a test double: it keeps everything in memory, has no policy
// engine and trusts its own clock. Never point production traffic at it.
package caracaltest // import "github.com/otelcaracal/otelcaracal/caracaltest"
