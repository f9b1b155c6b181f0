// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package propagator // import "github.com/otelcaracal/otelcaracal/propagator"

import (
	"context"
	"strings"
)

type subjectTokenKey struct{}

// ContextWithSubjectToken returns a copy of ctx carrying token as the
// subject token: the bearer credential the context presents. It is kept
// beside the baggage, never in it, so no propagator sends it on.
func ContextWithSubjectToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, subjectTokenKey{}, token)
}

// SubjectTokenFromContext returns the subject token of ctx, if any.
//
// A token extracted from a request has not been verified by this package.
func SubjectTokenFromContext(ctx context.Context) (string, bool) {
	tok, ok := ctx.Value(subjectTokenKey{}).(string)
	return tok, ok && tok != ""
}

// ParseBearer returns the token of an Authorization value (Caracal protocol
// §2.2 step 1): after trimming, the word "bearer" in any case, one or more
// spaces (not tabs), then the token, inner spaces kept. Other schemes,
// and tokens with control characters, give no token.
func ParseBearer(v string) (string, bool) {
	const scheme = "bearer"
	v = strings.TrimSpace(v)
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
		return "", false
	}
	tok := strings.TrimLeft(v[len(scheme):], " ")
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x20 || tok[i] == 0x7f {
			return "", false // No credential has control characters.
		}
	}
	return tok, tok != ""
}
