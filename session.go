// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal // import "github.com/otelcaracal/otelcaracal"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/codes"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// The session lifecycles of Caracal protocol §1.
const (
	lifecycleTask    = "task"
	lifecycleService = "service"
)

// The parent_authority values of Caracal protocol §4.3.
const (
	parentInherit = "inherit"
	parentNone    = "none"
)

// endTimeout bounds the termination of a session after its work, which
// runs even when the caller's context has ended.
const endTimeout = 10 * time.Second

type authorityMode int

const (
	inheritMode authorityMode = iota
	noneMode
	narrowMode
)

// Authority says what authority a child session takes from the session
// bound on the context it starts under (Caracal protocol §4.3, §4.4). The
// zero value is InheritAuthority. A session started on a context without
// a session is a root, whatever its Authority says, except that
// NarrowAuthority needs a parent.
type Authority struct {
	mode   authorityMode
	narrow Narrowing
}

// InheritAuthority returns the authority that lets the coordinator mirror
// the parent's single live delegation onto the child (parent_authority
// inherit). When it does, the child acts under the mirrored delegation one
// hop deeper; when the parent holds none, the child has no delegation and
// the parent's hop (§2.6).
func InheritAuthority() Authority { return Authority{mode: inheritMode} }

// NoAuthority returns the authority of a child that takes nothing from
// its parent (parent_authority none): it has no delegation and keeps the
// parent's hop, its parent edge being the parent's delegation.
func NoAuthority() Authority { return Authority{mode: noneMode} }

// NarrowAuthority returns the authority of a child that receives a new
// delegation from its parent, described by n (§4.4): the child starts with
// parent_authority none, then the client creates the delegation parent →
// child, and the child acts under it one hop deeper. n.TTL must be
// positive. If the delegation cannot be created, the child is ended.
func NarrowAuthority(n Narrowing) Authority { return Authority{mode: narrowMode, narrow: n} }

// Narrowing is the delegation a child started with NarrowAuthority
// receives.
type Narrowing struct {
	// Resource is the resource identifier the delegation is for, if one.
	Resource string
	// Scopes are the scopes it grants.
	Scopes []string
	// TTL is its lifetime, whole seconds within 1 s..24 h; required.
	TTL time.Duration
	// Constraints narrow it further. Without MaxHops (or MaxDepth) of 2
	// or more the child cannot delegate again (the default is 1).
	Constraints DelegationConstraints
}

// SessionOptions are the parameters of a session start (Caracal protocol
// §4.3). The zero value starts a task session that inherits its parent's
// authority, with the client's default TTL.
type SessionOptions struct {
	// Authority is what the session takes from the context's session.
	Authority Authority
	// TTL is the session's lifetime, whole seconds within 1 s..24 h. Zero
	// means the client's default TTL, else the coordinator's (one hour).
	// Service sessions take none.
	TTL time.Duration
	// Labels are role labels for policy: at most 32, each 1..64 bytes.
	Labels []string
	// Metadata is free-form data recorded with the session.
	Metadata map[string]any
	// Task, when set, is recorded as metadata.task.
	Task string
	// SubjectRecord is the subject authority record the session is
	// attributed to (subject_session_id); the coordinator defaults it to
	// the client's own.
	SubjectRecord string
	// SubjectToken proves SubjectRecord: a federated user's mandate. It is
	// sent in the request body and never appears in errors.
	SubjectToken string
	// IdempotencyKey is the Idempotency-Key of the start. Empty means a
	// generated one, sent with Idempotency-Key-Kind: generated.
	IdempotencyKey string
}

// startBody is the JSON of POST /zones/{zone}/agents.
type startBody struct {
	ApplicationID    string         `json:"application_id"`
	Lifecycle        string         `json:"lifecycle,omitempty"`
	SubjectSessionID string         `json:"subject_session_id,omitempty"`
	SubjectToken     string         `json:"subject_token,omitempty"`
	ParentID         string         `json:"parent_id,omitempty"`
	TTLSeconds       int64          `json:"ttl_seconds,omitempty"`
	Metadata         map[string]any `json:"metadata,omitempty"`
	Labels           []string       `json:"labels,omitempty"`
	ParentAuthority  string         `json:"parent_authority,omitempty"`
}

// startResponse is what the client reads of a start response.
type startResponse struct {
	AgentSessionID      string  `json:"agent_session_id"`
	DelegationEdgeID    *string `json:"delegation_edge_id"`
	HeartbeatDeadlineAt *string `json:"heartbeat_deadline_at"`
	LeaseGeneration     int64   `json:"lease_generation"`
	SubjectRecord       *string `json:"subject_authority_record_id"`
	Status              *string `json:"status"`
}

// started is a session the coordinator started and the envelope of the
// context that acts for it.
type started struct {
	id       string
	env      baggage.Envelope
	gen      int64
	status   string
	deadline time.Time
}

// Session starts a task session at the coordinator (Caracal protocol
// §4.3), runs fn with a context bound to it, and ends the session after
// fn returns or panics, even when ctx has ended. It returns fn's error,
// joined with the error of ending the session, if any (a session the
// coordinator has already retired, for example with its parent, is not
// an error).
//
// A session started under a context bound to another session is its
// child: the parent is ctx's session, and opts.Authority says what
// authority the child takes (InheritAuthority, NoAuthority or
// NarrowAuthority), which sets its envelope's delegation, parent edge and
// hop as §2.6 says. The context fn gets acts for the new session with the
// client's own token; ctx's subject token is not passed on. The session
// runs in a span, caracal.session, so that one task is one trace.
//
// The start is sent with an Idempotency-Key and retried up to twice on
// 5xx and network errors; see CoordinatorError for what a refusal gives.
func (c *Client) Session(ctx context.Context, fn func(context.Context) error, opts SessionOptions) (err error) {
	// One span for the whole session, so that its coordinator calls and
	// everything fn does belong to one trace, and so one delegation chain.
	ctx, span := c.tracer().Start(ctx, "caracal.session")
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, "session failed")
		}
		span.End()
	}()
	st, err := c.start(ctx, opts, "")
	if err != nil {
		return err
	}
	defer func() {
		err = errors.Join(err, c.end(ctx, st.id, 0))
	}()
	return fn(bindSession(ctx, st.env))
}

// bindSession returns ctx acting for a session with the client's own
// token.
func bindSession(ctx context.Context, env baggage.Envelope) context.Context {
	ctx, _ = baggage.ContextWithEnvelope(ctx, env) // env comes from Child or is a root: valid.
	ctx = propagator.ContextWithSubjectToken(ctx, "")
	return withBinding(ctx, binding{own: true})
}

// start starts a session under ctx's session and works out its envelope.
func (c *Client) start(ctx context.Context, opts SessionOptions, lifecycle string) (started, error) {
	parent := baggage.FromContext(ctx)
	body, err := c.startBody(opts, lifecycle, parent)
	if err != nil {
		return started{}, err
	}
	resp, err := c.startRaw(ctx, body, opts.IdempotencyKey)
	if err != nil {
		return started{}, err
	}
	st := started{id: resp.AgentSessionID, gen: resp.LeaseGeneration, status: deref(resp.Status)}
	if resp.HeartbeatDeadlineAt != nil {
		st.deadline, _ = time.Parse(time.RFC3339Nano, *resp.HeartbeatDeadlineAt)
	}
	if lifecycle == lifecycleService && st.gen < 1 {
		return st, fmt.Errorf("%w: start session: lease_generation %d of service session %q is not positive",
			ErrInvalidResponse, st.gen, st.id)
	}
	if st.env, err = c.childEnvelope(ctx, parent, resp, opts); err != nil {
		return st, errors.Join(err, c.end(ctx, st.id, st.gen))
	}
	return st, nil
}

// startBody checks opts and builds the start request.
func (c *Client) startBody(opts SessionOptions, lifecycle string, parent baggage.Envelope) (startBody, error) {
	b := startBody{
		ApplicationID:    c.app,
		Lifecycle:        lifecycle,
		SubjectSessionID: opts.SubjectRecord,
		SubjectToken:     opts.SubjectToken,
		Labels:           opts.Labels,
		Metadata:         opts.Metadata,
	}
	var errs []error
	ttl := opts.TTL
	if ttl == 0 && lifecycle != lifecycleService {
		ttl = c.defaultTTL
	}
	switch {
	case lifecycle == lifecycleService && ttl != 0:
		errs = append(errs, fmt.Errorf("%w: service sessions take no TTL", ErrInvalidRequest))
	case ttl != 0:
		n, err := seconds("session TTL", ttl)
		errs = append(errs, err)
		b.TTLSeconds = n
	}
	if len(opts.Labels) > 32 {
		errs = append(errs, fmt.Errorf("%w: %d labels, at most 32", ErrInvalidRequest, len(opts.Labels)))
	}
	for _, l := range opts.Labels {
		if l == "" || len(l) > 64 {
			errs = append(errs, fmt.Errorf("%w: label %q must be 1..64 bytes", ErrInvalidRequest, clip(l)))
		}
	}
	if opts.Task != "" {
		b.Metadata = make(map[string]any, len(opts.Metadata)+1)
		for k, v := range opts.Metadata {
			b.Metadata[k] = v
		}
		b.Metadata["task"] = opts.Task
	}
	if opts.Authority.mode == narrowMode {
		if parent.AgentSession == "" {
			errs = append(errs, fmt.Errorf("%w: a narrowed authority needs a parent session", ErrNoSession))
		}
		errs = append(errs, opts.Authority.narrow.check())
	}
	if parent.AgentSession != "" {
		b.ParentID, b.ParentAuthority = parent.AgentSession, parentNone
		if opts.Authority.mode == inheritMode {
			b.ParentAuthority = parentInherit
		}
	}
	return b, errors.Join(errs...)
}

func (n Narrowing) check() error {
	if n.TTL <= 0 {
		return fmt.Errorf("%w: a narrowed authority needs a positive TTL", ErrInvalidRequest)
	}
	_, err := seconds("narrowed authority TTL", n.TTL)
	return errors.Join(err, n.Constraints.Validate())
}

// seconds returns d in whole seconds within 1..86400.
func seconds(what string, d time.Duration) (int64, error) {
	if d < time.Second || d > maxTTLSeconds*time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("%w: %s %v is not whole seconds within 1s..24h", ErrInvalidRequest, what, d)
	}
	return int64(d / time.Second), nil
}

// startRaw sends a start request and checks the response has a session.
func (c *Client) startRaw(ctx context.Context, body startBody, key string) (startResponse, error) {
	var resp startResponse
	if err := checkKey(key); err != nil {
		return resp, err
	}
	_, err := c.coord.do(ctx, call{
		name: "start session", method: http.MethodPost, path: c.path("agents"),
		body: body, create: true, key: key, retries: startRetries, out: &resp,
	})
	if err != nil {
		return resp, err
	}
	if !idPattern.MatchString(resp.AgentSessionID) {
		return resp, fmt.Errorf("%w: start session: the response has no valid agent_session_id",
			ErrInvalidResponse)
	}
	return resp, nil
}

// childEnvelope returns the envelope of a started session (Caracal
// protocol §2.6), creating the narrowed delegation first if asked.
func (c *Client) childEnvelope(
	ctx context.Context,
	parent baggage.Envelope,
	resp startResponse,
	opts SessionOptions,
) (baggage.Envelope, error) {
	record := deref(resp.SubjectRecord)
	if record == "" {
		record = opts.SubjectRecord
	}
	if parent.AgentSession == "" {
		return baggage.Envelope{AgentSession: resp.AgentSessionID, SubjectRecord: record}, nil
	}
	edge := deref(resp.DelegationEdgeID)
	switch opts.Authority.mode {
	case narrowMode:
		n := opts.Authority.narrow
		d, err := c.delegate(ctx, parent, DelegateOptions{
			Target: resp.AgentSessionID, Scopes: n.Scopes, Resource: n.Resource,
			TTL: n.TTL, Constraints: n.Constraints,
		})
		if err != nil {
			return baggage.Envelope{}, err
		}
		edge = d.ID
	case noneMode:
		edge = ""
	}
	env := parent
	if record != "" {
		env.SubjectRecord = record
	}
	if edge == "" {
		env.AgentSession, env.DelegationEdge, env.ParentEdge = resp.AgentSessionID, "", parent.DelegationEdge
		return env, nil
	}
	return env.Child(resp.AgentSessionID, edge)
}

// end terminates a session after its work: even when ctx has ended,
// bounded by endTimeout, and without error when it is already retired.
func (c *Client) end(ctx context.Context, id string, gen int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endTimeout)
	defer cancel()
	return errNotGone(c.terminate(ctx, id, gen))
}

// EndSession terminates the session id at the coordinator (Caracal
// protocol §4.5), with its subtree. It is for sessions whose ids the
// caller holds; Session and SessionHandle.Close end their own. A session
// already retired gives a *CoordinatorError whose Gone method reports
// true.
func (c *Client) EndSession(ctx context.Context, id string) error {
	return c.terminate(ctx, id, 0)
}

// terminate sends DELETE /zones/{zone}/agents/{id}, with the lease
// generation of a service session.
func (c *Client) terminate(ctx context.Context, id string, gen int64) error {
	if err := checkID("session id", id); err != nil {
		return err
	}
	var body any
	if gen > 0 {
		body = struct {
			LeaseGeneration int64 `json:"lease_generation"`
		}{gen}
	}
	_, err := c.coord.do(ctx, call{
		name: "end session", method: http.MethodDelete, path: c.path("agents", id), body: body,
	})
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}
