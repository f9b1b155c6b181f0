// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal // import "github.com/otelcaracal/otelcaracal"

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/mandate"
)

// lifecycleToken returns the token the client presents to the
// coordinator and as its own subject token: the bootstrap token, or the
// exchange of every configured resource for LifecycleScope, cached
// (Caracal protocol §5.4). force skips the cache and refills it, as after
// a 401 from the coordinator.
func (c *Client) lifecycleToken(ctx context.Context, force bool) (string, error) {
	if c.bootstrap != nil {
		return c.bootstrap(), nil
	}
	if len(c.resources) == 0 {
		return "", fmt.Errorf("%w: set CARACAL_APP_RESOURCES, resource bindings or [[credentials]]", ErrNoResources)
	}
	tok, err := c.mints.Mint(ctx, mandate.ExchangeRequest{
		Resources:    c.resources,
		Scopes:       []string{LifecycleScope},
		ForceRefresh: force,
	})
	if err != nil {
		return "", fmt.Errorf("otelcaracal: lifecycle token: %w", err)
	}
	return tok.AccessToken, nil
}

// MintOptions are the optional parameters of MintMandate.
type MintOptions struct {
	// TTL is the lifetime asked for, in whole seconds; 0 lets the STS
	// choose (15 minutes). The STS caps it (Caracal protocol §5.3).
	TTL time.Duration
	// ApprovalID repeats a mint whose approval hold was approved; such a
	// mint is never cached.
	ApprovalID string
}

// MintMandate mints a mandate for resource and scopes (at least one),
// acting under the agent session and delegation of ctx's envelope
// (Caracal protocol §5.5). With both, the STS mints a single-use
// use=gateway mandate, never cached; otherwise the mandate is cached and
// reused while fresh (§5.4).
//
// Errors are those of mandate.MintCache: an *mandate.STSError for a
// refusal (an access_denied for a session without a delegation carries a
// hint), a *mandate.ApprovalRequiredError for an approval hold.
// A client configured with a bootstrap token cannot mint
// (ErrNoClientSecret).
func (c *Client) MintMandate(
	ctx context.Context,
	resource string,
	scopes []string,
	opts MintOptions,
) (*mandate.Token, error) {
	switch {
	case c.mints == nil:
		return nil, ErrNoClientSecret
	case strings.TrimSpace(resource) == "":
		return nil, fmt.Errorf("%w: mint: blank resource", ErrInvalidRequest)
	case len(scopes) == 0:
		return nil, fmt.Errorf("%w: mint: at least one scope is required", ErrInvalidRequest)
	}
	env := baggage.FromContext(ctx)
	return c.mints.Mint(ctx, mandate.ExchangeRequest{
		Resources:        []string{resource},
		Scopes:           scopes,
		AgentSessionID:   env.AgentSession,
		DelegationEdgeID: env.DelegationEdge,
		TTL:              opts.TTL,
		ApprovalID:       opts.ApprovalID,
	})
}
