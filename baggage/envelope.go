// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package baggage // import "github.com/otelcaracal/otelcaracal/baggage"

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	otelbaggage "go.opentelemetry.io/otel/baggage"
)

// The reserved baggage keys of the Caracal envelope (Caracal protocol §2.1).
// The wire kept older product names: caracal.session names the subject
// authority record, not the agent session.
const (
	KeyAgentSession   = "caracal.agent_session"
	KeyDelegationEdge = "caracal.delegation_edge"
	KeyParentEdge     = "caracal.parent_edge"
	KeySubjectRecord  = "caracal.session"
	KeyHop            = "caracal.hop"
)

// MaxHop is the deepest delegation an envelope may carry (Caracal protocol
// §2.1 and §2.6). Decoders clamp larger values to it; builders refuse them.
const MaxHop = 10

// reservedKeys is the complete reserved set, in byte order. Any other key,
// including other caracal.-prefixed ones, is third-party baggage.
var reservedKeys = [...]string{
	KeyAgentSession,
	KeyDelegationEdge,
	KeyHop,
	KeyParentEdge,
	KeySubjectRecord,
}

var (
	// ErrHopLimit is returned when a hop would leave 0..MaxHop.
	ErrHopLimit = errors.New("caracal baggage: hop outside 0..10")
	// ErrInvalidKey is returned for a key that is not a W3C baggage token.
	ErrInvalidKey = errors.New("caracal baggage: key is not a W3C token")
	// ErrReservedKey is returned when a third-party member would use one of
	// the five reserved envelope keys.
	ErrReservedKey = errors.New("caracal baggage: key is reserved for the envelope")
	// ErrInvalidValue is returned for a value that is not valid UTF-8.
	ErrInvalidValue = errors.New("caracal baggage: value is not valid UTF-8")
	// ErrLimit is returned when baggage would exceed the W3C limits of 64
	// members or 8192 bytes.
	ErrLimit = errors.New("caracal baggage: W3C baggage limits exceeded")
	// ErrEmptyDelegation is returned when a delegation id is empty.
	ErrEmptyDelegation = errors.New("caracal baggage: empty delegation id")
)

// Envelope is the Caracal authority context a request acts under.
//
// The zero value is a root context: no session, no delegation, hop 0. An
// Envelope never holds the subject token; tokens are not baggage.
type Envelope struct {
	// AgentSession is the agent session id (caracal.agent_session).
	AgentSession string
	// DelegationEdge is the delegation the context acts under
	// (caracal.delegation_edge).
	DelegationEdge string
	// ParentEdge is the delegation held before DelegationEdge was accepted
	// (caracal.parent_edge). It is attribution only; no claim signs it.
	ParentEdge string
	// SubjectRecord is the subject authority record id (caracal.session).
	SubjectRecord string
	// Hop is the delegation depth, 0 at the root and at most MaxHop.
	Hop int
}

// IsZero reports whether e is the root envelope with nothing set.
func (e Envelope) IsZero() bool { return e == Envelope{} }

// HasIDs reports whether any of the four ids is set.
func (e Envelope) HasIDs() bool {
	return e.AgentSession != "" || e.DelegationEdge != "" ||
		e.ParentEdge != "" || e.SubjectRecord != ""
}

// Validate reports whether e can be written to baggage: Hop within
// 0..MaxHop and every id valid UTF-8. Errors wrap ErrHopLimit or
// ErrInvalidValue.
func (e Envelope) Validate() error {
	var errs []error
	if e.Hop < 0 || e.Hop > MaxHop {
		errs = append(errs, fmt.Errorf("%w: %d", ErrHopLimit, e.Hop))
	}
	for _, m := range [...]struct{ key, value string }{
		{KeyAgentSession, e.AgentSession},
		{KeyDelegationEdge, e.DelegationEdge},
		{KeyParentEdge, e.ParentEdge},
		{KeySubjectRecord, e.SubjectRecord},
	} {
		if !utf8.ValidString(m.value) {
			errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidValue, m.key))
		}
	}
	return errors.Join(errs...)
}

// AcceptDelegation returns the envelope of a context that takes on the
// delegation id (Caracal protocol §2.6): the current edge becomes the parent
// edge, id becomes the current edge and the hop grows by one. The session
// and subject record stay. It fails with ErrHopLimit at MaxHop and with
// ErrEmptyDelegation for an empty id. Accepting the delegation the
// envelope already acts under changes nothing: an edge is never its own
// parent.
func (e Envelope) AcceptDelegation(id string) (Envelope, error) {
	if id == "" {
		return e, ErrEmptyDelegation
	}
	if id == e.DelegationEdge {
		return e, nil
	}
	if e.Hop >= MaxHop {
		return e, fmt.Errorf("%w: accepting %q at hop %d", ErrHopLimit, id, e.Hop)
	}
	e.ParentEdge, e.DelegationEdge = e.DelegationEdge, id
	e.Hop++
	return e, nil
}

// Child returns the envelope of a child session that acts under a new
// delegation edge from e (Caracal protocol §2.6, narrow mode, and inherit
// mode when the coordinator mirrored an edge): session is the child's
// session, edge becomes its delegation, e's delegation its parent edge,
// and the hop grows by one. The subject record stays. It fails as
// AcceptDelegation does.
func (e Envelope) Child(session, edge string) (Envelope, error) {
	e.AgentSession = session
	return e.AcceptDelegation(edge)
}

// members returns the envelope as baggage members: each non-empty id and,
// when the hop is above 0 or any id is set, the hop (Caracal protocol §2.3
// step 3). A bare root envelope has no members.
func (e Envelope) members() ([]otelbaggage.Member, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if !e.HasIDs() && e.Hop == 0 {
		return nil, nil
	}
	ms := make([]otelbaggage.Member, 0, len(reservedKeys))
	for _, kv := range [...]struct{ key, value string }{
		{KeyAgentSession, e.AgentSession},
		{KeyDelegationEdge, e.DelegationEdge},
		{KeyHop, strconv.Itoa(e.Hop)},
		{KeyParentEdge, e.ParentEdge},
		{KeySubjectRecord, e.SubjectRecord},
	} {
		if kv.value == "" {
			continue
		}
		m, err := otelbaggage.NewMemberRaw(kv.key, kv.value)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// FromBaggage reads the envelope from b. Empty reserved values count as
// absent and the hop is decoded with ParseHop, so the result always has a
// hop within 0..MaxHop.
func FromBaggage(b otelbaggage.Baggage) Envelope {
	if b.Len() == 0 {
		return Envelope{}
	}
	return Envelope{
		AgentSession:   b.Member(KeyAgentSession).Value(),
		DelegationEdge: b.Member(KeyDelegationEdge).Value(),
		ParentEdge:     b.Member(KeyParentEdge).Value(),
		SubjectRecord:  b.Member(KeySubjectRecord).Value(),
		Hop:            ParseHop(b.Member(KeyHop).Value()),
	}
}

// FromContext reads the envelope from the baggage of ctx.
func FromContext(ctx context.Context) Envelope {
	return FromBaggage(otelbaggage.FromContext(ctx))
}

// Apply returns b with its reserved members replaced by those of e. Every
// third-party member of b is kept as it is, and reserved members that e
// does not set are removed, so no stale envelope value survives. When the
// result would exceed the W3C limits of 64 members or 8192 bytes,
// third-party members are dropped, last in key order first, so that the
// envelope always fits: a request's baggage cannot keep a service from
// acting under its own authority. It fails when e is invalid (see
// Envelope.Validate), returning b unchanged.
func Apply(b otelbaggage.Baggage, e Envelope) (otelbaggage.Baggage, error) {
	env, err := e.members()
	if err != nil {
		return b, err
	}
	all := b.Members()
	third := all[:0]
	for _, m := range all {
		if !IsReserved(m.Key()) {
			third = append(third, m)
		}
	}
	if out, err := otelbaggage.New(append(third, env...)...); err == nil {
		return out, nil
	}
	slices.SortFunc(third, func(a, b otelbaggage.Member) int { return strings.Compare(a.Key(), b.Key()) })
	for n := len(third) - 1; n >= 0; n-- {
		if out, err := otelbaggage.New(append(slices.Clip(third[:n]), env...)...); err == nil {
			return out, nil
		}
	}
	return b, fmt.Errorf("%w: the envelope alone", ErrLimit)
}

// ContextWithEnvelope returns a copy of ctx whose baggage carries e in
// place of any envelope it had, keeping the third-party members as Apply
// does. It fails as Apply does, returning ctx unchanged.
func ContextWithEnvelope(ctx context.Context, e Envelope) (context.Context, error) {
	b, err := Apply(otelbaggage.FromContext(ctx), e)
	if err != nil {
		return ctx, err
	}
	return otelbaggage.ContextWithBaggage(ctx, b), nil
}

// AcceptDelegation returns a copy of ctx whose envelope has taken on the
// delegation id, as Envelope.AcceptDelegation describes.
func AcceptDelegation(ctx context.Context, id string) (context.Context, error) {
	e, err := FromContext(ctx).AcceptDelegation(id)
	if err != nil {
		return ctx, err
	}
	return ContextWithEnvelope(ctx, e)
}

// ParseHop decodes a caracal.hop value (Caracal protocol §2.2 step 5): a
// string of ASCII digits gives its value capped at MaxHop, overflow
// included; anything else, such as "-1", "+3", "1.5" or "", gives 0.
func ParseHop(raw string) int {
	if raw == "" {
		return 0
	}
	n := 0
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c < '0' || c > '9' {
			return 0
		}
		if n <= MaxHop {
			n = n*10 + int(c-'0')
		}
	}
	return min(n, MaxHop)
}
