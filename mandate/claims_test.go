// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/mandate"
)

func TestClaimsFixture(t *testing.T) {
	c := fixtureClaims(t)

	want := &mandate.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    "https://sts.example.com",
			Subject:   "user-1",
			Audience:  jwt.ClaimStrings{"resource://api"},
			ExpiresAt: jwt.NewNumericDate(time.Unix(1790000300, 0)),
			IssuedAt:  jwt.NewNumericDate(time.Unix(1790000000, 0)),
			ID:        "018f7d6a-8f4a-7d9f-9a54-5e4fd7df0001",
		},
		ZoneID:           "zone-1",
		ClientID:         "app-1",
		Scope:            "read write",
		SID:              "authority-record-1",
		RootSID:          "authority-record-root",
		Use:              mandate.UseResource,
		SubjectType:      mandate.SubjectTypeUser,
		Target:           []string{"resource://api"},
		AgentSessionID:   "session-child",
		DelegationEdgeID: "delegation-1",
		SourceSessionID:  "session-parent",
		TargetSessionID:  "session-child",
		DelegationPath:   []string{"delegation-1"},
		DelegationChain: []mandate.ChainHop{
			{ApplicationID: "app-parent", AgentSessionID: "session-parent", DelegationEdgeID: "delegation-1"},
			{ApplicationID: "app-1", AgentSessionID: "session-child"},
		},
		HopCount:             1,
		DelegationGraphEpoch: 7,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("decoded fixture =\n%+v\nwant\n%+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	if got := c.Envelope(); got != fixtureEnvelope {
		t.Errorf("Envelope = %+v, want %+v", got, fixtureEnvelope)
	}

	// Re-marshalled, every member is the fixture's, except that aud is
	// written as an array, as the STS issues it.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var got, fixture map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(claimsFixture), &fixture); err != nil {
		t.Fatal(err)
	}
	fixture["aud"] = []any{fixture["aud"]}
	if !reflect.DeepEqual(got, fixture) {
		t.Errorf("re-marshalled fixture =\n%s\nwant the fixture with aud as an array", b)
	}
}

func TestClaimsMarshalAudienceArray(t *testing.T) {
	saved := jwt.MarshalSingleStringAsArray
	jwt.MarshalSingleStringAsArray = false
	t.Cleanup(func() { jwt.MarshalSingleStringAsArray = saved })

	c := mandate.Claims{RegisteredClaims: jwt.RegisteredClaims{Audience: jwt.ClaimStrings{"resource://api"}}}
	for name, v := range map[string]any{"value": c, "pointer": &c} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"aud":["resource://api"]}`; string(b) != want {
			t.Errorf("%s: Marshal = %s, want %s", name, b, want)
		}
	}
}

func TestClaimsEnvelope(t *testing.T) {
	tests := []struct {
		name string
		c    mandate.Claims
		want baggage.Envelope
	}{
		{name: "root", c: mandate.Claims{SID: "rec"}, want: baggage.Envelope{SubjectRecord: "rec"}},
		{
			name: "three edges: parent is the second-to-last",
			c: mandate.Claims{
				AgentSessionID: "s3", DelegationEdgeID: "e3", SID: "rec", HopCount: 3,
				DelegationPath: []string{"e1", "e2", "e3"},
			},
			want: baggage.Envelope{
				AgentSession: "s3", DelegationEdge: "e3", ParentEdge: "e2", SubjectRecord: "rec", Hop: 3,
			},
		},
		{
			name: "hop beyond the envelope limit",
			c:    mandate.Claims{HopCount: 42},
			want: baggage.Envelope{Hop: baggage.MaxHop},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.c.Envelope(); got != tt.want {
				t.Errorf("Envelope = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClaimsScopes(t *testing.T) {
	tests := []struct {
		name  string
		scope string
		has   string
		want  bool
	}{
		{name: "exact", scope: "read write", has: "write", want: true},
		{name: "tabs and newlines", scope: "read\twrite\nadmin", has: "admin", want: true},
		{name: "prefix", scope: "read write", has: "rea"},
		{name: "case", scope: "read write", has: "READ"},
		{name: "empty never matches", scope: "read  write", has: ""},
		{name: "empty scope", scope: "", has: "read"},
		{name: "two scopes at once", scope: "read write", has: "read write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mandate.Claims{Scope: tt.scope}
			if got := c.HasScope(tt.has); got != tt.want {
				t.Errorf("HasScope(%q) = %v, want %v", tt.has, got, tt.want)
			}
			if got := slices.Contains(c.Scopes(), tt.has); got != tt.want {
				t.Errorf("Scopes() = %q, containing %q: %v, want %v", c.Scopes(), tt.has, got, tt.want)
			}
		})
	}
}

func TestClaimsUnmarshalTypes(t *testing.T) {
	tests := []struct {
		name   string
		member string // replaces the fixture's member of the same name
		ok     bool
	}{
		{name: "aud string", member: `"aud":"x"`, ok: true},
		{name: "aud array", member: `"aud":["x","y"]`, ok: true},
		{name: "aud number", member: `"aud":123`},
		{name: "aud array with null", member: `"aud":["x",null]`},
		{name: "aud object", member: `"aud":{"x":1}`},
		{name: "exp integer", member: `"exp":1790000300`, ok: true},
		{name: "exp fraction", member: `"exp":1790000300.25`, ok: true},
		{name: "exp exponent", member: `"exp":1.79e9`, ok: true},
		{name: "exp string", member: `"exp":"1790000300"`},
		{name: "exp negative", member: `"exp":-5`},
		{name: "exp beyond year 9999", member: `"exp":1e300`},
		{name: "exp null", member: `"exp":null`},
		{name: "iat bool", member: `"iat":true`},
		{name: "nbf string", member: `"nbf":"0"`},
		{name: "iss number", member: `"iss":1`},
		{name: "sub null", member: `"sub":null`},
		{name: "scope array", member: `"scope":["read"]`},
		{name: "target string", member: `"target":"resource://api"`},
		{name: "target with number", member: `"target":["a",1]`},
		{name: "delegation_path object", member: `"delegation_path":{}`},
		{name: "agent_session_id number", member: `"agent_session_id":7`},
		{name: "hop_count zero", member: `"hop_count":0`, ok: true},
		{name: "hop_count float", member: `"hop_count":1.0`},
		{name: "hop_count exponent", member: `"hop_count":1e1`},
		{name: "hop_count negative", member: `"hop_count":-1`},
		{name: "hop_count string", member: `"hop_count":"1"`},
		{name: "hop_count huge", member: `"hop_count":99999999999999999999`},
		{name: "epoch string", member: `"delegation_graph_epoch":"7"`},
		{name: "chain object", member: `"delegation_chain":{"application_id":"a"}`},
		{name: "chain of strings", member: `"delegation_chain":["a"]`},
		{name: "chain id number", member: `"delegation_chain":[{"application_id":5}]`},
		{name: "chain edge number", member: `"delegation_chain":[{"application_id":"a","delegation_edge_id":1}]`},
		{name: "chain extra member", member: `"delegation_chain":[{"application_id":"a","x":1}]`, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := tt.member[1 : strings.Index(tt.member[1:], `"`)+1]
			var m map[string]json.RawMessage
			if err := json.Unmarshal([]byte(claimsFixture), &m); err != nil {
				t.Fatal(err)
			}
			delete(m, name)
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			doc := `{` + tt.member + `,` + string(b[1:])

			var c mandate.Claims
			err = json.Unmarshal([]byte(doc), &c)
			if tt.ok {
				if err != nil {
					t.Fatalf("Unmarshal: %v", err)
				}
				return
			}
			if !errors.Is(err, mandate.ErrClaimType) || !errors.Is(err, jwt.ErrInvalidType) {
				t.Fatalf("Unmarshal = %v, want ErrClaimType", err)
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name the claim %q", err, name)
			}
		})
	}
}

func TestClaimsUnmarshalNotObject(t *testing.T) {
	for _, doc := range []string{`[]`, `"x"`, `1`, `{`} {
		var c mandate.Claims
		if err := json.Unmarshal([]byte(doc), &c); err == nil {
			t.Errorf("Unmarshal(%s) succeeded", doc)
		}
	}
}

func TestClaimsValidate(t *testing.T) {
	var c mandate.Claims
	err := c.Validate()
	for _, name := range []string{
		"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "sid", "root_sid", "use", "sub_type",
	} {
		if err == nil || !strings.Contains(err.Error(), "missing: "+name+"\n") &&
			!strings.HasSuffix(err.Error(), "missing: "+name) {
			t.Errorf("Validate of empty claims does not report %s: %v", name, err)
		}
	}
	if !errors.Is(err, mandate.ErrMissingClaim) || !errors.Is(err, mandate.ErrInvalidToken) {
		t.Errorf("Validate = %v, want ErrMissingClaim", err)
	}

	c = *fixtureClaims(t)
	c.Use, c.SubjectType = "root", "robot"
	c.DelegationChain = []mandate.ChainHop{{}}
	err = c.Validate()
	for _, want := range []error{mandate.ErrUse, mandate.ErrSubjectType, mandate.ErrMissingClaim} {
		if !errors.Is(err, want) {
			t.Errorf("Validate = %v, want it to match %v", err, want)
		}
	}
}

// TestClaimsStringDecoding checks that string claims decode exactly as
// encoding/json decodes strings, escapes and invalid UTF-8 included.
func TestClaimsStringDecoding(t *testing.T) {
	tests := []struct {
		name string
		raw  string
	}{
		{name: "plain", raw: `"authority-record-1"`},
		{name: "empty", raw: `""`},
		{name: "escapes", raw: `"a\"b\\c\/d\n\u00e9\ud83d\ude00"`},
		{name: "lone surrogate", raw: `"\ud800"`},
		{name: "multibyte", raw: `"zone-ä-😀"`},
		{name: "invalid UTF-8", raw: "\"a\xffb\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want string
			if err := json.Unmarshal([]byte(tt.raw), &want); err != nil {
				t.Fatal(err)
			}
			var c mandate.Claims
			if err := json.Unmarshal([]byte(`{"sid":`+tt.raw+`}`), &c); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if c.SID != want {
				t.Errorf("sid = %q, want %q", c.SID, want)
			}
		})
	}
}
