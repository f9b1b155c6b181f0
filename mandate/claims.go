// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate // import "github.com/otelcaracal/otelcaracal/mandate"

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/otelcaracal/otelcaracal/baggage"
)

// The mandate classes of the use claim (Caracal protocol §1 and §6.2).
const (
	// UseSession is a reusable lifecycle credential for the Coordinator,
	// also sent as subject token.
	UseSession = "session"
	// UseGateway is a single-use ingress pass the SDK sends to the Gateway.
	UseGateway = "gateway"
	// UseResource is what the STS mints for a protected resource; it is
	// what resource verifiers accept.
	UseResource = "resource"
)

// The subject kinds of the sub_type claim (Caracal protocol §6.2).
const (
	// SubjectTypeUser marks a federated end user as subject.
	SubjectTypeUser = "user"
	// SubjectTypeApplication marks the application itself as subject.
	SubjectTypeApplication = "application"
)

// maxNumericDate bounds exp, iat and nbf: 9999-12-31T23:59:59Z. Larger
// values do not fit a time.Time by way of float64 seconds.
const maxNumericDate = 253402300799

// Claims is the claim set of a Caracal mandate (Caracal protocol §6.2).
//
// The registered claims iss, sub, aud, exp, nbf, iat and jti live in the
// embedded jwt.RegisteredClaims. The wire kept older names: SID is the
// subject authority record, AgentSessionID the agent session and ClientID
// the acting application.
//
// Decoding is strict about JSON types (Caracal protocol §6.4 items 3, 7
// and 10): every string claim must be a JSON string, aud a string or an
// array of strings, exp, iat and nbf non-negative numbers (fractions
// allowed, as jwt.NumericDate reads them), hop_count and
// delegation_graph_epoch non-negative integers and delegation_chain an
// array of objects. A claim of the wrong type fails decoding with an error
// matching ErrClaimType. Presence and value rules are in Validate.
type Claims struct {
	jwt.RegisteredClaims

	// ZoneID is the zone (tenant) the mandate was issued in.
	ZoneID string `json:"zone_id,omitempty"`
	// ClientID is the acting application.
	ClientID string `json:"client_id,omitempty"`
	// Scope holds the granted scopes, separated by spaces.
	Scope string `json:"scope,omitempty"`
	// SID is the subject authority record of the exchange that minted the
	// mandate.
	SID string `json:"sid,omitempty"`
	// RootSID is the root of the exchange ancestry.
	RootSID string `json:"root_sid,omitempty"`
	// Use is the mandate class: UseSession, UseGateway or UseResource.
	Use string `json:"use,omitempty"`
	// SubjectType is SubjectTypeUser or SubjectTypeApplication.
	SubjectType string `json:"sub_type,omitempty"`
	// Target lists the granted resource identifiers.
	Target []string `json:"target,omitempty"`
	// AgentSessionID is the agent session the mandate is bound to.
	AgentSessionID string `json:"agent_session_id,omitempty"`
	// DelegationEdgeID is the delegation the mandate acts under.
	DelegationEdgeID string `json:"delegation_edge_id,omitempty"`
	// SourceSessionID is the source session of that delegation.
	SourceSessionID string `json:"source_session_id,omitempty"`
	// TargetSessionID is the target session of that delegation.
	TargetSessionID string `json:"target_session_id,omitempty"`
	// DelegationPath lists the edge ids from the root to the current edge.
	DelegationPath []string `json:"delegation_path,omitempty"`
	// DelegationChain lists one hop per issuer, then the receiver.
	DelegationChain []ChainHop `json:"delegation_chain,omitempty"`
	// HopCount is the number of edges in DelegationPath; omitted when 0.
	HopCount int `json:"hop_count,omitempty"`
	// DelegationGraphEpoch is the zone's delegation-graph epoch when the
	// mandate was minted; omitted when 0.
	DelegationGraphEpoch int64 `json:"delegation_graph_epoch,omitempty"`
}

// ChainHop is one element of the delegation_chain claim: an issuing hop
// names its application, session and edge; the final receiver hop names no
// edge.
type ChainHop struct {
	// ApplicationID is the application at this hop. It is never empty in
	// a valid mandate.
	ApplicationID string `json:"application_id"`
	// AgentSessionID is the agent session at this hop.
	AgentSessionID string `json:"agent_session_id,omitempty"`
	// DelegationEdgeID is the edge this hop issued; empty for the receiver.
	DelegationEdgeID string `json:"delegation_edge_id,omitempty"`
}

// Anchors are the ids a mandate can be revoked by (Caracal protocol §6.4
// item 12). An empty field is absent from the token.
type Anchors struct {
	// SID is the subject authority record (sid).
	SID string
	// RootSID is the root authority record (root_sid).
	RootSID string
	// AgentSessionID is the agent session (agent_session_id).
	AgentSessionID string
	// DelegationEdgeID is the current delegation (delegation_edge_id).
	DelegationEdgeID string
}

// Scopes returns the scopes of the scope claim, split on white space.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// HasScope reports whether s is one of the scopes of the scope claim. The
// match is exact and case-sensitive; an empty s never matches.
func (c *Claims) HasScope(s string) bool {
	if s == "" {
		return false
	}
	for f := range strings.FieldsSeq(c.Scope) {
		if f == s {
			return true
		}
	}
	return false
}

// HasTarget reports whether t is one of the granted resource identifiers
// of the target claim.
func (c *Claims) HasTarget(t string) bool { return slices.Contains(c.Target, t) }

// Anchors returns the revocation anchors of c.
func (c *Claims) Anchors() Anchors {
	return Anchors{
		SID:              c.SID,
		RootSID:          c.RootSID,
		AgentSessionID:   c.AgentSessionID,
		DelegationEdgeID: c.DelegationEdgeID,
	}
}

// Envelope returns the authority envelope that c projects to (Caracal
// protocol §3, "Authoritative vs advisory"): the agent session from
// agent_session_id, the delegation from delegation_edge_id, the subject
// record from sid and the hop from hop_count, limited to 0..baggage.MaxHop.
//
// No claim names the parent edge. Envelope takes it to be the
// second-to-last element of delegation_path, the edge held before the
// current one. That is an inference of this package: the reference
// projection leaves the parent edge empty.
//
// The envelope is authoritative only when c came from Verifier.Verify.
func (c *Claims) Envelope() baggage.Envelope {
	e := baggage.Envelope{
		AgentSession:   c.AgentSessionID,
		DelegationEdge: c.DelegationEdgeID,
		SubjectRecord:  c.SID,
		Hop:            min(max(c.HopCount, 0), baggage.MaxHop),
	}
	if n := len(c.DelegationPath); n >= 2 {
		e.ParentEdge = c.DelegationPath[n-2]
	}
	return e
}

// Validate checks the presence and values of the claims, in addition to
// the types UnmarshalJSON checks (Caracal protocol §6.4 items 5, 7 and 10):
// iss, sub, aud, exp, iat, jti, client_id, sid, root_sid, use and sub_type
// present and non-empty, use one of the three classes, sub_type user or
// application, and an application_id in every delegation_chain hop. It
// reports every failure, joined, each matching ErrInvalidToken.
//
// Validate implements jwt.ClaimsValidator, so a jwt.Parser calls it after
// the signature check. It compares nothing with a configuration: time,
// issuer, audience and zone_id are Verifier.Verify's to check, and an
// absent zone_id fails there with ErrInvalidZone, as the protocol says.
func (c *Claims) Validate() error {
	var errs []error
	for _, f := range [...]struct{ name, value string }{
		{"iss", c.Issuer},
		{"sub", c.Subject},
		{"jti", c.ID},
		{"client_id", c.ClientID},
		{"sid", c.SID},
		{"root_sid", c.RootSID},
		{"use", c.Use},
		{"sub_type", c.SubjectType},
	} {
		if f.value == "" {
			errs = append(errs, newError(ErrMissingClaim, f.name))
		}
	}
	if !slices.ContainsFunc(c.Audience, func(a string) bool { return a != "" }) {
		errs = append(errs, newError(ErrMissingClaim, "aud"))
	}
	if c.ExpiresAt == nil {
		errs = append(errs, newError(ErrMissingClaim, "exp"))
	}
	if c.IssuedAt == nil {
		errs = append(errs, newError(ErrMissingClaim, "iat"))
	}
	switch c.Use {
	case "", UseSession, UseGateway, UseResource:
	default:
		errs = append(errs, newError(ErrUse, quoteClipped(c.Use)))
	}
	switch c.SubjectType {
	case "", SubjectTypeUser, SubjectTypeApplication:
	default:
		errs = append(errs, newError(ErrSubjectType, quoteClipped(c.SubjectType)))
	}
	for i, h := range c.DelegationChain {
		if h.ApplicationID == "" {
			name := fmt.Sprintf("delegation_chain[%d].application_id", i)
			errs = append(errs, newError(ErrMissingClaim, name))
		}
	}
	return errors.Join(errs...)
}

// MarshalJSON encodes c as a mandate claim set. It always writes aud as an
// array, as the STS issues it, whatever jwt.MarshalSingleStringAsArray
// says.
func (c Claims) MarshalJSON() ([]byte, error) {
	type plain Claims // plain has no MarshalJSON, so this does not recurse.
	return json.Marshal(struct {
		plain
		Audience []string `json:"aud,omitempty"`
	}{plain(c), c.Audience})
}

// UnmarshalJSON decodes a mandate claim set, checking the JSON type of
// every claim it knows as the Claims documentation describes. Unknown
// claims are ignored. Claim names are matched exactly, case included.
func (c *Claims) UnmarshalJSON(data []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return newError(ErrMalformed, "claims are not a JSON object", err)
	}
	d := claimDecoder{raw: raw}
	var out Claims
	d.str("iss", &out.Issuer)
	d.str("sub", &out.Subject)
	d.audience(&out.Audience)
	d.numericDate("exp", &out.ExpiresAt)
	d.numericDate("nbf", &out.NotBefore)
	d.numericDate("iat", &out.IssuedAt)
	d.str("jti", &out.ID)
	d.str("zone_id", &out.ZoneID)
	d.str("client_id", &out.ClientID)
	d.str("scope", &out.Scope)
	d.str("sid", &out.SID)
	d.str("root_sid", &out.RootSID)
	d.str("use", &out.Use)
	d.str("sub_type", &out.SubjectType)
	d.strList("target", &out.Target)
	d.str("agent_session_id", &out.AgentSessionID)
	d.str("delegation_edge_id", &out.DelegationEdgeID)
	d.str("source_session_id", &out.SourceSessionID)
	d.str("target_session_id", &out.TargetSessionID)
	d.strList("delegation_path", &out.DelegationPath)
	d.chain(&out.DelegationChain)
	var hops int64
	d.count("hop_count", &hops)
	out.HopCount = int(min(hops, math.MaxInt))
	d.count("delegation_graph_epoch", &out.DelegationGraphEpoch)
	if len(d.errs) > 0 {
		return errors.Join(d.errs...)
	}
	*c = out
	return nil
}

// UnmarshalJSON decodes one delegation_chain hop, requiring a JSON object
// whose three members, when present, are strings.
func (h *ChainHop) UnmarshalJSON(data []byte) error {
	var d claimDecoder
	var out ChainHop
	d.hop("delegation_chain[]", data, &out)
	if len(d.errs) > 0 {
		return errors.Join(d.errs...)
	}
	*h = out
	return nil
}

// claimDecoder reads claims from their raw JSON and collects a type error
// for each claim that has the wrong JSON type. Error messages name the
// claim, never its value.
type claimDecoder struct {
	raw  map[string]json.RawMessage
	errs []error
}

func (d *claimDecoder) fail(name string) {
	d.errs = append(d.errs, newError(ErrClaimType, name, jwt.ErrInvalidType))
}

func (d *claimDecoder) str(name string, dst *string) {
	if v, ok := d.raw[name]; ok && !decodeString(v, dst) {
		d.fail(name)
	}
}

func (d *claimDecoder) strList(name string, dst *[]string) {
	if v, ok := d.raw[name]; ok && !decodeStrings(v, dst) {
		d.fail(name)
	}
}

func (d *claimDecoder) audience(dst *jwt.ClaimStrings) {
	v, ok := d.raw["aud"]
	if !ok {
		return
	}
	var s string
	if decodeString(v, &s) {
		*dst = jwt.ClaimStrings{s}
		return
	}
	var ss []string
	if !decodeStrings(v, &ss) {
		d.fail("aud")
		return
	}
	*dst = ss
}

// numericDate accepts a non-negative JSON number, fractions included, up
// to maxNumericDate, and decodes it as jwt.NumericDate does.
func (d *claimDecoder) numericDate(name string, dst **jwt.NumericDate) {
	v, ok := d.raw[name]
	if !ok {
		return
	}
	if !isNumber(v) {
		d.fail(name)
		return
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || f < 0 || f > maxNumericDate {
		d.fail(name)
		return
	}
	var nd jwt.NumericDate
	if nd.UnmarshalJSON(v) != nil {
		d.fail(name)
		return
	}
	*dst = &nd
}

// count accepts a non-negative JSON integer without fraction or exponent.
func (d *claimDecoder) count(name string, dst *int64) {
	v, ok := d.raw[name]
	if !ok {
		return
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil || n < 0 {
		d.fail(name)
		return
	}
	*dst = n
}

func (d *claimDecoder) chain(dst *[]ChainHop) {
	v, ok := d.raw["delegation_chain"]
	if !ok {
		return
	}
	var items []json.RawMessage
	if !isKind(v, '[') || json.Unmarshal(v, &items) != nil {
		d.fail("delegation_chain")
		return
	}
	hops := make([]ChainHop, len(items))
	for i, item := range items {
		d.hop(fmt.Sprintf("delegation_chain[%d]", i), item, &hops[i])
	}
	*dst = hops
}

func (d *claimDecoder) hop(name string, data json.RawMessage, dst *ChainHop) {
	var raw map[string]json.RawMessage
	if !isKind(data, '{') || json.Unmarshal(data, &raw) != nil {
		d.fail(name)
		return
	}
	for _, m := range [...]struct {
		key string
		dst *string
	}{
		{"application_id", &dst.ApplicationID},
		{"agent_session_id", &dst.AgentSessionID},
		{"delegation_edge_id", &dst.DelegationEdgeID},
	} {
		if v, ok := raw[m.key]; ok && !decodeString(v, m.dst) {
			d.fail(name + "." + m.key)
		}
	}
}

// isKind reports whether the JSON value v starts with the byte c: '"' for
// a string, '[' for an array, '{' for an object.
func isKind(v json.RawMessage, c byte) bool { return len(v) > 0 && v[0] == c }

func isNumber(v json.RawMessage) bool {
	return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9')
}

// decodeString decodes the JSON string v. The document v came from has
// been checked already, so a string without escapes, in valid UTF-8, is
// the bytes between its quotes; only other strings need the decoder.
func decodeString(v json.RawMessage, dst *string) bool {
	if !isKind(v, '"') {
		return false
	}
	if inner := v[1 : len(v)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		*dst = string(inner)
		return true
	}
	return json.Unmarshal(v, dst) == nil
}

func decodeStrings(v json.RawMessage, dst *[]string) bool {
	var items []json.RawMessage
	if !isKind(v, '[') || json.Unmarshal(v, &items) != nil {
		return false
	}
	out := make([]string, len(items))
	for i, item := range items {
		if !decodeString(item, &out[i]) {
			return false
		}
	}
	*dst = out
	return true
}
