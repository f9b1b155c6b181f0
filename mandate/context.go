// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate // import "github.com/otelcaracal/otelcaracal/mandate"

import "context"

// claimsKey is the context key of verified claims.
type claimsKey struct{}

// ContextWithClaims returns a copy of ctx carrying c.
//
// Only claims returned by Verifier.Verify belong there: code downstream
// treats claims found in a context as verified and authorizes from them.
// Claims decoded without verification, or built by hand, must never be
// stored with it.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the verified claims that ContextWithClaims
// stored in ctx, and whether there were any. The claims are shared: treat
// them as read-only.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}
