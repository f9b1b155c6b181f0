// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway // import "github.com/otelcaracal/otelcaracal/gateway"

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/mandate"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// MandateSource supplies the mandate of a gateway-bound request.
type MandateSource interface {
	// Mandate returns the mandate to send for resource, acting under the
	// context's envelope.
	Mandate(ctx context.Context, resource string) (string, error)
}

// MandateSourceFunc adapts a function to MandateSource.
type MandateSourceFunc func(ctx context.Context, resource string) (string, error)

// Mandate calls f.
func (f MandateSourceFunc) Mandate(ctx context.Context, resource string) (string, error) {
	return f(ctx, resource)
}

var (
	// ErrNoMandate is returned for a gateway-bound request that no mandate
	// is available for.
	ErrNoMandate = errors.New("caracal gateway: no mandate for a gateway-bound request")
	// ErrNotGatewayMandate is returned when the subject token of the
	// context is a mandate of another class than use=gateway, which the
	// Gateway would refuse (Caracal protocol §7.2).
	ErrNotGatewayMandate = errors.New("caracal gateway: subject token is not a gateway mandate")
	// ErrRedirect is returned for a redirect of a gateway-bound request:
	// a mandate is never sent on to where a response points (Caracal
	// protocol §7.2).
	ErrRedirect = errors.New("caracal gateway: redirect of a gateway-bound request not followed")
)

// SubjectToken returns a MandateSource that sends the subject token of the
// context (see propagator.SubjectTokenFromContext), as a service passing on
// the mandate it was called with does. A token that is a JWT with a use
// claim other than "gateway" is refused locally with ErrNotGatewayMandate.
func SubjectToken() MandateSource {
	return MandateSourceFunc(func(ctx context.Context, _ string) (string, error) {
		tok, ok := propagator.SubjectTokenFromContext(ctx)
		if !ok {
			return "", ErrNoMandate
		}
		if use, ok := peekUse(tok); ok && use != mandate.UseGateway {
			return "", fmt.Errorf("%w: use %q", ErrNotGatewayMandate, use)
		}
		return tok, nil
	})
}

// peekUse reads the use claim of a JWT without verifying it; it is a local
// guard only.
func peekUse(tok string) (string, bool) {
	var c jwt.MapClaims
	// An unknown alg is an error that still returns the decoded claims.
	if t, _, _ := jwt.NewParser().ParseUnverified(tok, &c); t == nil {
		return "", false
	}
	use, ok := c["use"].(string)
	return use, ok
}

// Mint returns a MandateSource that mints through the STS with cache, for
// the scopes and lifetime given (a ttl of 0 lets the STS choose). The
// agent session and delegation come from the context's envelope: with
// both, each request gets a fresh one-shot use=gateway mandate, as the
// Gateway accepts each such mandate once (Caracal protocol §5.5).
func Mint(cache *mandate.MintCache, scopes []string, ttl time.Duration) MandateSource {
	return MandateSourceFunc(func(ctx context.Context, resource string) (string, error) {
		env := baggage.FromContext(ctx)
		tok, err := cache.Mint(ctx, mandate.ExchangeRequest{
			Resources:        []string{resource},
			Scopes:           scopes,
			AgentSessionID:   env.AgentSession,
			DelegationEdgeID: env.DelegationEdge,
			TTL:              ttl,
		})
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	})
}
