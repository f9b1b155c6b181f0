// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package propagator // import "github.com/otelcaracal/otelcaracal/propagator"

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
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
// When the carrier holds a baggage header, Extract replaces the baggage
// of the context with the members it can read from it; without one, the
// context's baggage is kept, as propagation.Baggage does. An "Authorization: Bearer"
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
// the W3C limits is ignored whole, and the context then has no baggage.
// Extract never fails: what it cannot read, it leaves out.
func (Caracal) Extract(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	if vals := values(carrier, baggageHeader); len(vals) > 0 {
		// The header defines the request's baggage, even when none of it
		// can be read: what another propagator made of it does not stay.
		ctx = otelbaggage.ContextWithBaggage(ctx, parseBaggage(vals))
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
	if h, ok := carrier.(propagation.HeaderCarrier); ok {
		// A header set in a map literal may be spelled non-canonically;
		// http.Header.Values would not see it, but it would be sent.
		for k, vs := range h {
			if k != "Baggage" && strings.EqualFold(k, baggageHeader) {
				existing = append(slices.Clip(existing), vs...)
			}
		}
	}
	v := encodeBaggage(otelbaggage.FromContext(ctx), existing)
	if len(existing) > 0 {
		// Stale members must not survive under another spelling of the key.
		clearKey(carrier, baggageHeader)
	}
	if v != "" {
		set(carrier, baggageHeader, v)
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
	return writeMembers(fitLimits(ms))
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
		if !sent(ms, i) {
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

// sent reports whether member i of the sorted ms is written: the last of
// its key, with a value and a valid key.
func sent(ms []member, i int) bool {
	m := ms[i]
	return (i+1 == len(ms) || ms[i+1].key != m.key) && m.value != "" && baggage.ValidKey(m.key)
}

// fitLimits drops third-party members from sorted ms, last key first, until
// the header fits the W3C limits receivers enforce (§2.3 says an encoder
// should): a receiver ignores an oversized header whole, envelope and all.
// The envelope is never dropped. Dropping is reported once per process.
func fitLimits(ms []member) []member {
	// Most headers fit even if every byte were escaped: then nothing needs
	// counting exactly.
	if len(ms) <= MaxBaggageMembers {
		bound := 0
		for _, m := range ms {
			bound += 2 + len(m.key) + 3*len(m.value)
		}
		if bound <= MaxBaggageBytes {
			return ms
		}
	}
	n, size := 0, -1
	for i, m := range ms {
		if sent(ms, i) {
			n++
			size += 2 + len(m.key) + escapedLen(m.value)
		}
	}
	if n <= MaxBaggageMembers && size <= MaxBaggageBytes {
		return ms
	}
	for i := len(ms) - 1; i >= 0 && (n > MaxBaggageMembers || size > MaxBaggageBytes); i-- {
		if !sent(ms, i) || baggage.IsReserved(ms[i].key) {
			continue
		}
		n--
		size -= 2 + len(ms[i].key) + escapedLen(ms[i].value)
		ms[i].value = ""
	}
	reportDropOnce.Do(func() {
		otel.Handle(errors.New("caracal propagator: baggage over the W3C limits; third-party members dropped"))
	})
	return ms
}

var reportDropOnce sync.Once

func encodedLen(ms []member) int {
	n := 0
	for _, m := range ms {
		n += len(m.key) + len(m.value) + 2
	}
	return n
}

// get returns the value of key in carrier, matching the key without regard
// to case (§2.5), also on carriers whose Get is case-sensitive. Of several
// spellings of the key, the first in byte order is read.
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
	for _, k := range spellings(carrier, key) {
		if v := carrier.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// values returns every value of key in carrier, matching the key without
// regard to case. Several spellings are read in byte order.
func values(carrier propagation.TextMapCarrier, key string) []string {
	if h, ok := carrier.(propagation.HeaderCarrier); ok {
		return h[canonical(key)]
	}
	var vs []string
	vg, multi := carrier.(propagation.ValuesGetter)
	for _, k := range append([]string{key}, spellings(carrier, key)...) {
		if multi {
			vs = append(vs, vg.Values(k)...)
		} else if v := carrier.Get(k); v != "" {
			vs = append(vs, v)
		}
	}
	return vs
}

// spellings returns the keys of carrier other than key that equal it
// without regard to case, sorted.
func spellings(carrier propagation.TextMapCarrier, key string) []string {
	var ks []string
	for _, k := range carrier.Keys() {
		if k != key && strings.EqualFold(k, key) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
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

// clearKey removes key, in every spelling, from carrier: deleted from HTTP
// headers and maps, set empty on carriers that cannot delete.
func clearKey(carrier propagation.TextMapCarrier, key string) {
	switch c := carrier.(type) {
	case propagation.HeaderCarrier:
		for k := range c {
			if strings.EqualFold(k, key) {
				delete(c, k)
			}
		}
	case propagation.MapCarrier:
		for k := range c {
			if strings.EqualFold(k, key) {
				delete(c, k)
			}
		}
	default:
		for _, k := range append([]string{key}, spellings(carrier, key)...) {
			carrier.Set(k, "")
		}
	}
}
