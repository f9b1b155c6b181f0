// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package propagator_test

import (
	"strings"

	"github.com/otelcaracal/otelcaracal/baggage"
)

// The vectors of the Caracal protocol notes, §10.2–10.9. The fixtures of
// §10.1 that concern the envelope are in testdata, copied unchanged.

const (
	fixtureHeaders = "testdata/trace-context.headers.valid.json"
	fixtureBaggage = "testdata/w3c-baggage.valid.json"
)

// §10.2: the fixture headers decode to this envelope.
var fixtureEnvelope = baggage.Envelope{
	AgentSession:   "session-child",
	DelegationEdge: "delegation-1",
	ParentEdge:     "delegation-root",
	SubjectRecord:  "authority-record-1",
	Hop:            1,
}

// §10.2: re-encoding the w3c-baggage fixture.
const fixtureEncoded = "caracal.agent_session=session-child,caracal.delegation_edge=delegation-1," +
	"caracal.hop=1,caracal.parent_edge=delegation-root,caracal.session=authority-record-1,tenant=example"

type parseVector struct {
	name  string
	lines []string
	want  map[string]string
}

func members(n int) string {
	ms := make([]string, n)
	for i := range ms {
		ms[i] = "k" + itoa(i) + "=v"
	}
	return strings.Join(ms, ",")
}

func membersMap(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m["k"+itoa(i)] = "v"
	}
	return m
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// §10.3, plus the tolerance cases this library adds: a key that is not a
// W3C token drops that member only, and invalid UTF-8 becomes U+FFFD.
var parseVectors = []parseVector{
	{"two members", []string{"k1=v1,k2=v2"}, map[string]string{"k1": "v1", "k2": "v2"}},
	{"space escape", []string{"k=hello%20world"}, map[string]string{"k": "hello world"}},
	{"plus is literal", []string{"k=a+b"}, map[string]string{"k": "a+b"}},
	{"bad escape kept raw", []string{"k=broken%zz"}, map[string]string{"k": "broken%zz"}},
	{"utf-8 escape", []string{"k=%E2%9C%93"}, map[string]string{"k": "✓"}},
	{"no equals dropped", []string{"noequal,k=v"}, map[string]string{"k": "v"}},
	{"empty key dropped", []string{"=v,k=v"}, map[string]string{"k": "v"}},
	{"trimmed, property dropped", []string{" k = v ;p=1 "}, map[string]string{"k": "v"}},
	{"property ignored", []string{"k=v;property=ignored"}, map[string]string{"k": "v"}},
	{"hop with property", []string{"caracal.hop=5;ttl=3600"}, map[string]string{"caracal.hop": "5"}},
	{"last duplicate wins", []string{"a=1,a=2"}, map[string]string{"a": "2"}},
	{"empty header", []string{""}, map[string]string{}},
	{"8192 bytes accepted", []string{"k=" + strings.Repeat("a", 8190)},
		map[string]string{"k": strings.Repeat("a", 8190)}},
	{"8193 bytes dropped", []string{"k=" + strings.Repeat("a", 8191)}, map[string]string{}},
	{"64 members", []string{members(64)}, membersMap(64)},
	{"65 members dropped", []string{members(65)}, map[string]string{}},
	{"trailing comma counts", []string{members(64) + ","}, map[string]string{}},
	{"lines joined", []string{"caracal.agent_session=sess", "tenant=hooli"},
		map[string]string{"caracal.agent_session": "sess", "tenant": "hooli"}},
	{"non-token key dropped alone", []string{"ex.com/foo=1,caracal.agent_session=s"},
		map[string]string{"caracal.agent_session": "s"}},
	{"invalid utf-8 replaced", []string{"k=aa%ffcc"}, map[string]string{"k": "aa\uFFFDcc"}},
	{"lines over bytes together", []string{"a=" + strings.Repeat("x", 4094), "b=" + strings.Repeat("y", 4095)},
		map[string]string{}},
	{"lines within bytes together", []string{"a=" + strings.Repeat("x", 4094), "b=" + strings.Repeat("y", 4093)},
		map[string]string{"a": strings.Repeat("x", 4094), "b": strings.Repeat("y", 4093)}},
	{"lines over members together", []string{members(40), members(30)}, map[string]string{}},
	{"empty reserved is absent", []string{"caracal.agent_session=,t=1"}, map[string]string{"t": "1"}},
}

type encodeVector struct {
	name    string
	members map[string]string
	want    string
}

// §10.4.
var encodeVectors = []encodeVector{
	{"sorted", map[string]string{"zeta": "1", "alpha": "2", "mid": "3"}, "alpha=2,mid=3,zeta=1"},
	{"escaped", map[string]string{"k": "a b%c,d=e"}, "k=a%20b%25c%2Cd%3De"},
	{"mixed, empty skipped", map[string]string{"k": "a b%c,d=e", "u": "✓", "t": "a~b_c.d-e", "e": ""},
		"k=a%20b%25c%2Cd%3De,t=a~b_c.d-e,u=%E2%9C%93"},
	{"empty envelope omitted", map[string]string{"caracal.agent_session": "", "caracal.hop": ""}, ""},
	{"plus escaped", map[string]string{"k": "a+b"}, "k=a%2Bb"},
}

type envelopeVector struct {
	name     string
	env      baggage.Envelope
	extras   map[string]string
	traceID  string // a remote span context with this trace id, if set
	flags    string
	state    string
	wantTP   string // "<span>" stands for the span id of the context
	wantTS   string
	wantBagg string
}

// §10.5. OpenTelemetry writes traceparent from the span of the context, so
// the rows that give no trace id have none here; under otelhttp every
// request has a span. The row with an invalid upper-case trace id cannot
// occur: OpenTelemetry holds trace ids as bytes.
var envelopeVectors = []envelopeVector{
	{
		name: "full",
		env: baggage.Envelope{
			AgentSession: "sess1", DelegationEdge: "edge1", ParentEdge: "parent1",
			SubjectRecord: "sid1", Hop: 3,
		},
		extras:  map[string]string{"tenant": "pied-piper"},
		traceID: "0123456789abcdef0123456789abcdef", flags: "00", state: "vendor=value",
		wantTP: "00-0123456789abcdef0123456789abcdef-<span>-00",
		wantTS: "vendor=value",
		wantBagg: "caracal.agent_session=sess1,caracal.delegation_edge=edge1,caracal.hop=3," +
			"caracal.parent_edge=parent1,caracal.session=sid1,tenant=pied-piper",
	},
	{
		name:     "session hop 0",
		env:      baggage.Envelope{AgentSession: "agent-2", DelegationEdge: "edge-1"},
		wantBagg: "caracal.agent_session=agent-2,caracal.delegation_edge=edge-1,caracal.hop=0",
	},
	{
		name:    "root with trace",
		traceID: "0123456789abcdef0123456789abcdef", flags: "01",
		wantTP: "00-0123456789abcdef0123456789abcdef-<span>-01",
	},
	{name: "hop only", env: baggage.Envelope{Hop: 2}, wantBagg: "caracal.hop=2"},
	{name: "session only", env: baggage.Envelope{AgentSession: "s"}, wantBagg: "caracal.agent_session=s,caracal.hop=0"},
}

type bearerVector struct {
	name, value, token string
	ok                 bool
}

// §10.7.
var bearerVectors = []bearerVector{
	{"bearer", "Bearer mytoken", "mytoken", true},
	{"lower case", "bearer mytoken", "mytoken", true},
	{"upper case, spaces", "BEARER   mytoken   ", "mytoken", true},
	{"inner space kept", "Bearer a b", "a b", true},
	{"basic", "Basic dXNlcjpwYXNz", "", false},
	{"scheme only", "Bearer", "", false},
	{"scheme and space", "Bearer ", "", false},
	{"no separator", "Bearertok", "", false},
	{"tab separator", "Bearer\ttok", "", false},
	{"empty", "", "", false},
}

type traceparentVector struct {
	name, value    string
	traceID, flags string // empty: invalid
}

const tid = "0123456789abcdef0123456789abcdef"

// §10.8. The padded value is valid in Caracal's decoder; OpenTelemetry's
// TraceContext does not trim it on a map carrier, but HTTP servers strip
// the padding before any propagator sees it (see TestTraceparentPaddedHTTP).
var traceparentVectors = []traceparentVector{
	{"valid", "00-" + tid + "-aabbccddeeff0011-01", tid, "01"},
	{"upper case", "00-0123456789abcdef0123456789ABCDEF-aabbccddeeff0011-01", "", ""},
	{"version ff", "ff-" + tid + "-aabbccddeeff0011-01", "", ""},
	{"v00 extra part", "00-" + tid + "-aabbccddeeff0011-01-extra", "", ""},
	{"zero trace id", "00-00000000000000000000000000000000-aabbccddeeff0011-01", "", ""},
	{"zero span id", "00-" + tid + "-0000000000000000-01", "", ""},
	{"short flags", "00-" + tid + "-aabbccddeeff0011-1", "", ""},
	{"short version", "0-" + tid + "-aabbccddeeff0011-01", "", ""},
	{"invalid", "invalid", "", ""},
	{"noteven", "noteven", "", ""},
	{"short trace id", "00-short-aabbccddeeff0011-01", "", ""},
	{"empty", "", "", ""},
}

// §10.9.
var hopVectors = []struct {
	raw string
	hop int
}{
	{"0", 0}, {"1", 1}, {"9", 9}, {"10", 10}, {"11", 10}, {"100", 10},
	{"-1", 0}, {"-99", 0}, {"+3", 0}, {"3x", 0}, {"1e2", 0}, {"1.5", 0},
	{"", 0}, {"99999999999999999999999999", 10}, {"007", 7},
}
