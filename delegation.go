// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal // import "github.com/otelcaracal/otelcaracal"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/otelcaracal/otelcaracal/baggage"
)

// Ranges of the delegation constraints (Caracal protocol §4.8).
const (
	maxConstraintHops      = 10
	maxConstraintResources = 64
	maxBudget              = 64
	maxBroadReason         = 256
)

// ErrDelegationInactive is returned by AcceptDelegation for a delegation
// the coordinator does not report as active for the context's session.
var ErrDelegationInactive = errors.New("otelcaracal: delegation is not active")

// DelegationConstraints narrow a delegation (Caracal protocol §4.8). The
// zero value constrains nothing. It encodes to the coordinator's JSON
// object, writing a key only when its field is set, in the order of
// §10.13: resources, max_depth, max_hops, ttl_seconds, policy_approved,
// expires_at, broad_reason, budget.
type DelegationConstraints struct {
	// Resources are the resource identifiers the delegation may mint for:
	// at most 64, none empty. A non-nil empty slice is sent as [].
	Resources []string
	// MaxDepth is an alias of MaxHops, 1..10. The coordinator refuses
	// both set to different values; it is sent as given.
	MaxDepth int
	// MaxHops is the longest lineage allowed through the delegation,
	// 1..10. The STS assumes 1 when it is not set.
	MaxHops int
	// TTL caps the mandates minted through the delegation: whole seconds
	// within 1 s..24 h, sent as ttl_seconds.
	TTL time.Duration
	// PolicyApproved is recorded for audit and display only.
	PolicyApproved bool
	// ExpiresAt is an absolute cap on the delegation and its mandates,
	// sent as RFC 3339 in UTC.
	ExpiresAt time.Time
	// BroadReason is an audit note, 1..256 bytes, for a delegation that
	// names no resource.
	BroadReason string
	// Budget is a coordinator-only bound, 1..64, that a child delegation
	// may not exceed. Caracal's STS does not know it, so a delegation
	// carrying it may not be mintable; leave it 0 unless the deployment
	// needs it.
	Budget int
}

// IsZero reports whether c constrains nothing.
func (c DelegationConstraints) IsZero() bool {
	return c.Resources == nil && c.MaxDepth == 0 && c.MaxHops == 0 && c.TTL == 0 &&
		!c.PolicyApproved && c.ExpiresAt.IsZero() && c.BroadReason == "" && c.Budget == 0
}

// Validate reports every field outside the ranges the coordinator
// accepts, joined; each error matches ErrInvalidRequest.
func (c DelegationConstraints) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: constraints: "+format, append([]any{ErrInvalidRequest}, args...)...))
	}
	if len(c.Resources) > maxConstraintResources {
		bad("%d resources, at most %d", len(c.Resources), maxConstraintResources)
	}
	for _, r := range c.Resources {
		if strings.TrimSpace(r) == "" {
			bad("empty resource")
		}
	}
	for _, h := range []struct {
		name string
		v    int
	}{{"max_depth", c.MaxDepth}, {"max_hops", c.MaxHops}} {
		if h.v < 0 || h.v > maxConstraintHops {
			bad("%s %d is not within 1..%d", h.name, h.v, maxConstraintHops)
		}
	}
	if c.TTL != 0 {
		_, err := seconds("constraints TTL", c.TTL)
		errs = append(errs, err)
	}
	if c.Budget < 0 || c.Budget > maxBudget {
		bad("budget %d is not within 1..%d", c.Budget, maxBudget)
	}
	if len(c.BroadReason) > maxBroadReason {
		bad("broad_reason is longer than %d bytes", maxBroadReason)
	}
	return errors.Join(errs...)
}

// MarshalJSON encodes c as the coordinator's constraints object.
func (c DelegationConstraints) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	put := func(key string, v any) error {
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:%s", key, raw)
		return nil
	}
	var errs []error
	if c.Resources != nil {
		errs = append(errs, put("resources", c.Resources))
	}
	if c.MaxDepth != 0 {
		errs = append(errs, put("max_depth", c.MaxDepth))
	}
	if c.MaxHops != 0 {
		errs = append(errs, put("max_hops", c.MaxHops))
	}
	if c.TTL != 0 {
		errs = append(errs, put("ttl_seconds", int64(c.TTL/time.Second)))
	}
	if c.PolicyApproved {
		errs = append(errs, put("policy_approved", true))
	}
	if !c.ExpiresAt.IsZero() {
		errs = append(errs, put("expires_at", c.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	if c.BroadReason != "" {
		errs = append(errs, put("broad_reason", c.BroadReason))
	}
	if c.Budget != 0 {
		errs = append(errs, put("budget", c.Budget))
	}
	b.WriteByte('}')
	return b.Bytes(), errors.Join(errs...)
}

// DelegateOptions are the parameters of Delegate (Caracal protocol §4.8).
type DelegateOptions struct {
	// Target is the receiving session's id; required.
	Target string
	// ReceiverApplication is the application that owns Target. Empty
	// means the client's own.
	ReceiverApplication string
	// Scopes are the scopes granted.
	Scopes []string
	// Resource is the resource identifier (or row id) the delegation is
	// for, if one.
	Resource string
	// TTL is the delegation's lifetime, whole seconds within 1 s..24 h;
	// required.
	TTL time.Duration
	// Constraints narrow the delegation.
	Constraints DelegationConstraints
	// IdempotencyKey is the Idempotency-Key of the create. Empty means a
	// generated one.
	IdempotencyKey string
}

// Delegation is a delegation the coordinator created.
type Delegation struct {
	// ID is the delegation's id, which the receiver accepts with
	// AcceptDelegation.
	ID string
	// Scopes are the scopes the coordinator recorded.
	Scopes []string
	// ExpiresAt is when the delegation expires; zero when not reported.
	ExpiresAt time.Time
}

// delegationBody is the JSON of POST /zones/{zone}/delegations.
type delegationBody struct {
	IssuerApplicationID   string                 `json:"issuer_application_id"`
	SourceSessionID       string                 `json:"source_session_id"`
	TargetSessionID       string                 `json:"target_session_id"`
	ReceiverApplicationID string                 `json:"receiver_application_id"`
	Scopes                []string               `json:"scopes"`
	ResourceID            string                 `json:"resource_id,omitempty"`
	ParentEdgeID          string                 `json:"parent_edge_id,omitempty"`
	Constraints           *DelegationConstraints `json:"constraints,omitempty"`
	TTLSeconds            int64                  `json:"ttl_seconds"`
}

// Delegate creates a delegation from the session bound on ctx to the
// session opts.Target (Caracal protocol §4.8): issued by the client's
// application, chained below ctx's own delegation when it has one. ctx is
// not changed; the receiver takes the delegation on with
// AcceptDelegation.
//
// The create is sent with an Idempotency-Key and retried once on 5xx and
// network errors. It fails with ErrNoSession when ctx has no session.
func (c *Client) Delegate(ctx context.Context, opts DelegateOptions) (*Delegation, error) {
	return c.delegate(ctx, baggage.FromContext(ctx), opts)
}

func (c *Client) delegate(ctx context.Context, from baggage.Envelope, opts DelegateOptions) (*Delegation, error) {
	var errs []error
	if from.AgentSession == "" {
		errs = append(errs, fmt.Errorf("%w: delegate", ErrNoSession))
	}
	errs = append(errs, checkID("target session", opts.Target), checkKey(opts.IdempotencyKey),
		opts.Constraints.Validate())
	ttl, err := seconds("delegation TTL", opts.TTL)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	body := delegationBody{
		IssuerApplicationID:   c.app,
		SourceSessionID:       from.AgentSession,
		TargetSessionID:       opts.Target,
		ReceiverApplicationID: opts.ReceiverApplication,
		Scopes:                opts.Scopes,
		ResourceID:            opts.Resource,
		ParentEdgeID:          from.DelegationEdge,
		TTLSeconds:            ttl,
	}
	if body.ReceiverApplicationID == "" {
		body.ReceiverApplicationID = c.app
	}
	if body.Scopes == nil {
		body.Scopes = []string{}
	}
	if !opts.Constraints.IsZero() {
		body.Constraints = &opts.Constraints
	}
	var resp struct {
		ID        string   `json:"delegation_edge_id"`
		Scopes    []string `json:"scopes"`
		ExpiresAt string   `json:"expires_at"`
	}
	_, err = c.coord.do(ctx, call{
		name: "create delegation", method: http.MethodPost, path: c.path("delegations"),
		body: body, create: true, key: opts.IdempotencyKey, retries: delegateRetries, out: &resp,
	})
	if err != nil {
		return nil, err
	}
	if !idPattern.MatchString(resp.ID) {
		return nil, fmt.Errorf("%w: create delegation: the response has no valid delegation_edge_id",
			ErrInvalidResponse)
	}
	d := &Delegation{ID: resp.ID, Scopes: resp.Scopes}
	d.ExpiresAt, _ = time.Parse(time.RFC3339Nano, resp.ExpiresAt)
	return d, nil
}

// AcceptDelegation returns a copy of ctx acting under the delegation id,
// received from another session (Caracal protocol §2.6, §4.8): the
// context's delegation becomes its parent edge, id its delegation, and
// the hop grows by one; the session stays.
//
// It first asks the coordinator whether id is an active delegation to
// ctx's session (GET /zones/{zone}/delegations/inbound/{session}/{id}),
// and fails with ErrDelegationInactive when it is not, or with the
// coordinator's error (a *CoordinatorError with status 404 for an unknown
// or revoked one). It fails with ErrNoSession when ctx has no session and
// with baggage.ErrHopLimit at hop 10.
func (c *Client) AcceptDelegation(ctx context.Context, id string) (context.Context, error) {
	env := baggage.FromContext(ctx)
	if env.AgentSession == "" {
		return ctx, fmt.Errorf("%w: accept delegation %q", ErrNoSession, clip(id))
	}
	if err := errors.Join(checkID("delegation id", id), checkID("session id", env.AgentSession)); err != nil {
		return ctx, err
	}
	var resp struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	_, err := c.coord.do(ctx, call{
		name: "inspect delegation", method: http.MethodGet,
		path: c.path("delegations", "inbound", env.AgentSession, id), out: &resp,
	})
	switch {
	case err != nil:
		return ctx, err
	case resp.ID != "" && resp.ID != id:
		return ctx, fmt.Errorf("%w: inspect delegation: asked for %q, got %q", ErrInvalidResponse, id, clip(resp.ID))
	case resp.Status != "active":
		return ctx, fmt.Errorf("%w: %q is %q", ErrDelegationInactive, id, clip(resp.Status))
	}
	return baggage.AcceptDelegation(ctx, id)
}

// RevokeResult is the coordinator's answer to RevokeDelegation.
type RevokeResult struct {
	// RevokedEdges counts the delegations revoked: the one named and the
	// ones chained below it.
	RevokedEdges int `json:"revoked_edges"`
	// AffectedSessions counts the sessions that lost a delegation.
	AffectedSessions int `json:"affected_sessions"`
}

// RevokeDelegation revokes the delegation id, issued by the client's
// application, and every delegation chained below it (Caracal protocol
// §4.9).
func (c *Client) RevokeDelegation(ctx context.Context, id string) (RevokeResult, error) {
	var res RevokeResult
	if err := checkID("delegation id", id); err != nil {
		return res, err
	}
	_, err := c.coord.do(ctx, call{
		name: "revoke delegation", method: http.MethodPatch,
		path: c.path("delegations", id, "revoke"), out: &res,
	})
	return res, err
}
