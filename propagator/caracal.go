// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package propagator // import "github.com/otelcaracal/otelcaracal/propagator"

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	otelbaggage "go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"

	"github.com/otelcaracal/otelcaracal/baggage"
)

const (
	baggageHeader       = "baggage"
	authorizationHeader = "authorization"
)

// canonical returns the HTTP spelling of a key this package reads, so a
// HeaderCarrier is read without canonicalizing the key on every call.
func canonical(key string) string {
	switch key {
	case baggageHeader:
		return "Baggage"
	case authorizationHeader:
		return "Authorization"
	}
	return http.CanonicalHeaderKey(key)
}

// Caracal is a propagation.TextMapPropagator for W3C baggage that carries
// the Caracal envelope (Caracal protocol §2). The zero value is ready to
// use.
//
// When the carrier holds a usable baggage header, Extract replaces the
// baggage of the context with its members; otherwise the context's
// baggage is kept, as propagation.Baggage does. An "Authorization: Bearer"
// token is stored as the subject token. Inject writes the baggage of the
// context, merged with any baggage the carrier already holds: the
// carrier's third-party members win over the context's, every stale
// caracal.* member is removed, and the envelope is written from the
// context. Inject never writes Authorization.
//
// Caracal replaces propagation.Baggage: remove that one from the
// composite. If it stays, list it before Caracal, so that Caracal's
// header and context are the ones that remain; after Caracal it rewrites
// the header in its own encoding and drops the members it cannot parse.
//
// Baggage is unsigned, and Caracal checks nothing: treat what it extracts
// as claimed, never as proof of authority.
type Caracal struct{}

var _ propagation.TextMapPropagator = Caracal{}

// New returns the propagator for Caracal services: W3C trace context
// followed by Caracal.
func New() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{},
		Caracal{},
	)
}

// Fields returns the keys Inject sets: baggage.
func (Caracal) Fields() []string { return []string{baggageHeader} }

// Extract returns a copy of ctx carrying the envelope and third-party
// baggage of carrier and, if it holds a bearer credential, the subject
// token. Malformed members are dropped one by one; a baggage header over
// the W3C limits is ignored whole. Extract never fails: what it cannot
// read, it leaves out.
func (Caracal) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	if b := parseBaggage(values(carrier, baggageHeader)); b.Len() > 0 {
		ctx = otelbaggage.ContextWithBaggage(ctx, b)
	}
	if tok, ok := ParseBearer(get(carrier, authorizationHeader)); ok {
		ctx = ContextWithSubjectToken(ctx, tok)
	}
	return ctx
}

// Inject writes the baggage of ctx to carrier, merged with the baggage the
// carrier already holds (Caracal protocol §2.3 step 3). When nothing is
// left to send, an existing baggage header is cleared.
func (Caracal) Inject(ctx context.Context, carrier propagation.TextMapCarrier) {
	existing := values(carrier, baggageHeader)
	v := encodeBaggage(otelbaggage.FromContext(ctx), existing)
	switch {
	case v != "":
		set(carrier, baggageHeader, v)
	case len(existing) > 0:
		clearKey(carrier, baggageHeader)
	}
}

// member is one key and its decoded value.
type member struct{ key, value string }

// encodeBaggage returns the baggage header for b merged with the members
// already present in existing.
func encodeBaggage(b otelbaggage.Baggage, existing []string) string {
	var buf [16]member
	ms := buf[:0]
	var env baggage.Envelope
	if b.Len() > 0 {
		// One pass over the members reads the envelope too, where
		// baggage.FromBaggage would look each reserved key up again.
		for _, m := range b.Members() {
			if !setReserved(&env, m.Key(), m.Value()) {
				ms = append(ms, member{m.Key(), m.Value()})
			}
		}
	}
	if len(existing) > 0 {
		// The request's own members win over the context's (§2.3 step 3):
		// appended last, they survive the stable sort and deduplication.
		ms = appendMembers(ms, existing, true)
	}
	ms = appendEnvelope(ms, env)
	if len(ms) == 0 {
		return ""
	}
	slices.SortStableFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
	return writeMembers(ms)
}

// setReserved sets the field of e that key names and reports whether key
// is reserved.
func setReserved(e *baggage.Envelope, key, value string) bool {
	switch key {
	case baggage.KeyAgentSession:
		e.AgentSession = value
	case baggage.KeyDelegationEdge:
		e.DelegationEdge = value
	case baggage.KeyParentEdge:
		e.ParentEdge = value
	case baggage.KeySubjectRecord:
		e.SubjectRecord = value
	case baggage.KeyHop:
		e.Hop = baggage.ParseHop(value)
	default:
		return false
	}
	return true
}

// appendEnvelope appends the reserved members of e, with the hop when it
// is above 0 or any id is set (§2.3 step 3).
func appendEnvelope(ms []member, e baggage.Envelope) []member {
	if !e.HasIDs() && e.Hop == 0 {
		return ms
	}
	return append(ms,
		member{baggage.KeyAgentSession, e.AgentSession},
		member{baggage.KeyDelegationEdge, e.DelegationEdge},
		member{baggage.KeyHop, strconv.Itoa(e.Hop)},
		member{baggage.KeyParentEdge, e.ParentEdge},
		member{baggage.KeySubjectRecord, e.SubjectRecord},
	)
}

// writeMembers serializes sorted members, keeping the last of equal keys
// and skipping empty values and keys that are not W3C tokens.
func writeMembers(ms []member) string {
	var sb strings.Builder
	sb.Grow(encodedLen(ms))
	for i, m := range ms {
		if i+1 < len(ms) && ms[i+1].key == m.key {
			continue
		}
		if m.value == "" || !baggage.ValidKey(m.key) {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(m.key)
		sb.WriteByte('=')
		writeEscaped(&sb, m.value)
	}
	return sb.String()
}

func encodedLen(ms []member) int {
	n := 0
	for _, m := range ms {
		n += len(m.key) + len(m.value) + 2
	}
	return n
}

// get returns the first value of key in carrier, matching the key without
// regard to case (§2.5), also on carriers whose Get is case-sensitive.
func get(carrier propagation.TextMapCarrier, key string) string {
	if h, ok := carrier.(propagation.HeaderCarrier); ok {
		if vs := h[canonical(key)]; len(vs) > 0 {
			return vs[0]
		}
		return ""
	}
	if v := carrier.Get(key); v != "" {
		return v
	}
	for _, k := range carrier.Keys() {
		if strings.EqualFold(k, key) {
			if v := carrier.Get(k); v != "" {
				return v
			}
		}
	}
	return ""
}

// values returns every value of key in carrier, matching the key without
// regard to case.
func values(carrier propagation.TextMapCarrier, key string) []string {
	if h, ok := carrier.(propagation.HeaderCarrier); ok {
		return h[canonical(key)]
	}
	if vg, ok := carrier.(propagation.ValuesGetter); ok {
		if vs := vg.Values(key); len(vs) > 0 {
			return vs
		}
	} else if v := carrier.Get(key); v != "" {
		return []string{v}
	}
	var vs []string
	for _, k := range carrier.Keys() {
		if k == key || !strings.EqualFold(k, key) {
			continue
		}
		if vg, ok := carrier.(propagation.ValuesGetter); ok {
			vs = append(vs, vg.Values(k)...)
		} else if v := carrier.Get(k); v != "" {
			vs = append(vs, v)
		}
	}
	return vs
}

// set sets key to v in carrier, without canonicalizing a known key on
// HTTP headers.
func set(carrier propagation.TextMapCarrier, key, v string) {
	if h, ok := carrier.(propagation.HeaderCarrier); ok {
		h[canonical(key)] = []string{v}
		return
	}
	carrier.Set(key, v)
}

// clearKey removes key from carrier: deleted from HTTP headers, set empty
// on carriers that cannot delete.
func clearKey(carrier propagation.TextMapCarrier, key string) {
	if h, ok := carrier.(propagation.HeaderCarrier); ok {
		http.Header(h).Del(key)
		return
	}
	carrier.Set(key, "")
}
