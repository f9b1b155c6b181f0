// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Package mandate reads, verifies and signs Caracal mandates: the ES256
// JWTs that carry delegated authority (Caracal protocol §6).
//
// A Verifier checks a token against the issuer's key set for one zone,
// fetched from {issuer}/.well-known/jwks.json?zone_id={zone} and cached,
// and returns its Claims. Only claims a Verifier returned are verified:
// Claims.Envelope projects them onto the authority envelope of package
// baggage, and ContextWithClaims carries them to code that authorizes.
// Everything else a request brings (baggage, traceparent, routing headers)
// is advisory.
//
// Every error of Verify matches one class of the protocol's error table
// with errors.Is (ErrInvalidToken, ErrInsufficientScope, …); ErrorCode,
// StatusCode and WriteError turn it into the protocol's HTTP answer. No
// error message, and no response body, contains the token.
//
// A Signer mints mandates with a P-256 key, for an in-process control
// plane and for tests; JWKS and PublicJWK build the key set it publishes.
//
// # Usage
//
//	v, err := mandate.NewVerifier(
//		"https://sts.example.com", "zone-1", "resource://api",
//		mandate.WithRequiredScopes("read"),
//		mandate.WithRevocationChecker(store),
//	)
//	...
//	claims, err := v.Verify(r.Context(), token)
//	if err != nil {
//		mandate.WriteError(w, err)
//		return
//	}
//	ctx := mandate.ContextWithClaims(r.Context(), claims)
//	env := claims.Envelope() // verified session, delegation, hop
package mandate // import "github.com/otelcaracal/otelcaracal/mandate"
