// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package exporter // import "github.com/otelcaracal/otelcaracal/exporter"

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/mandate"
)

// Attribute keys of delegation attribution on spans.
const (
	// AgentSessionKey is the agent session id (baggage
	// caracal.agent_session).
	AgentSessionKey = attribute.Key("caracal.agent_session.id")
	// DelegationKey is the delegation the span acts under (baggage
	// caracal.delegation_edge).
	DelegationKey = attribute.Key("caracal.delegation.id")
	// DelegationParentKey is the delegation held before the current one
	// was accepted (baggage caracal.parent_edge).
	DelegationParentKey = attribute.Key("caracal.delegation.parent_id")
	// SubjectRecordKey is the subject authority record id (baggage
	// caracal.session).
	SubjectRecordKey = attribute.Key("caracal.subject.record_id")
	// HopKey is the delegation depth, an int (baggage caracal.hop).
	HopKey = attribute.Key("caracal.hop")
	// AttributionKey says where the other values come from:
	// AttributionClaimed or AttributionVerified.
	AttributionKey = attribute.Key("caracal.attribution")
	// ZoneKey is the zone id of a verified mandate.
	ZoneKey = attribute.Key("caracal.zone.id")
	// ApplicationKey is the application (client_id) of a verified mandate.
	ApplicationKey = attribute.Key("caracal.application.id")
	// DelegationPathKey is the signed delegation path of a verified
	// mandate.
	DelegationPathKey = attribute.Key("caracal.delegation.path")
)

// Values of AttributionKey.
const (
	// AttributionClaimed marks values read from baggage. Baggage is
	// unsigned: a claimed value is what the caller said, nothing more.
	AttributionClaimed = "claimed"
	// AttributionVerified marks values taken from the signed claims of a
	// verified mandate.
	AttributionVerified = "verified"
)

// maxAttrs is the number of attributes OnStart sets at most: four ids,
// the hop, the attribution and, when verified, zone, application and
// delegation path.
const maxAttrs = 9

// attrPool holds the arrays OnStart builds its attributes in. An array
// passed through the ReadWriteSpan interface escapes to the heap, which
// would cost an allocation per span; SetAttributes copies what it keeps,
// so an array can be cleared and reused as soon as the call returns.
var attrPool = sync.Pool{
	New: func() any { return new([maxAttrs]attribute.KeyValue) },
}

// SpanProcessor is a [sdktrace.SpanProcessor] that records the Caracal
// envelope of a span's parent context on the span as attributes.
//
// The values come from OpenTelemetry baggage, which is unsigned: anyone who
// sends a request chooses its baggage. SpanProcessor therefore marks them
// AttributionClaimed, meaning the caller said so and nothing was checked,
// unless a verifier proved them (see OnStart). It copies only the five
// envelope members of package baggage, never any other member, not even
// one whose key starts with "caracal.".
//
// The zero value is ready to use.
type SpanProcessor struct {
	cfg config
}

var _ sdktrace.SpanProcessor = (*SpanProcessor)(nil)

// NewSpanProcessor returns a SpanProcessor configured by opts.
func NewSpanProcessor(opts ...Option) *SpanProcessor {
	return &SpanProcessor{cfg: newConfig(opts)}
}

// OnStart sets the attribution attributes on s from the context parent.
//
// The envelope is read from the baggage of parent. When parent also holds
// claims a verifier proved (mandate.ClaimsFromContext) and the envelope is
// theirs, it is marked AttributionVerified, with ZoneKey, ApplicationKey
// and DelegationPathKey. Otherwise it is marked AttributionClaimed; a root
// envelope, with no ids and hop 0, sets nothing. Each non-empty id is set,
// and HopKey and AttributionKey always.
func (*SpanProcessor) OnStart(
	parent context.Context,
	s sdktrace.ReadWriteSpan,
) {
	env := baggage.FromContext(parent)
	claims, verified := mandate.ClaimsFromContext(parent)
	// Claims describe the context only while it still acts under them: a
	// handler that hands work to a child session under a new delegation
	// changes the envelope, and the child's authority is not proven yet.
	verified = verified && claims.Envelope() == env
	if !verified && env.IsZero() {
		return
	}

	attrs := attrPool.Get().(*[maxAttrs]attribute.KeyValue)
	n := 0
	for _, kv := range [...]struct {
		key   attribute.Key
		value string
	}{
		{AgentSessionKey, env.AgentSession},
		{DelegationKey, env.DelegationEdge},
		{DelegationParentKey, env.ParentEdge},
		{SubjectRecordKey, env.SubjectRecord},
	} {
		if kv.value != "" {
			attrs[n] = kv.key.String(kv.value)
			n++
		}
	}
	attrs[n] = HopKey.Int(env.Hop)
	n++
	if verified {
		attrs[n] = AttributionKey.String(AttributionVerified)
		attrs[n+1] = ZoneKey.String(claims.ZoneID)
		attrs[n+2] = ApplicationKey.String(claims.ClientID)
		n += 3
		if len(claims.DelegationPath) > 0 {
			attrs[n] = DelegationPathKey.StringSlice(claims.DelegationPath)
			n++
		}
	} else {
		attrs[n] = AttributionKey.String(AttributionClaimed)
		n++
	}
	s.SetAttributes(attrs[:n]...)

	*attrs = [maxAttrs]attribute.KeyValue{}
	attrPool.Put(attrs)
}

// OnEnd does nothing.
func (*SpanProcessor) OnEnd(sdktrace.ReadOnlySpan) {}

// Shutdown does nothing and returns nil.
func (*SpanProcessor) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing and returns nil.
func (*SpanProcessor) ForceFlush(context.Context) error { return nil }
