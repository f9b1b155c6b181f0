// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/mandate"
)

// refusal is a token Verify must refuse, with every error it must match.
type refusal struct {
	name  string
	opts  []mandate.VerifierOption
	token func(t testing.TB, e *verifyEnv) string
	want  []error
	code  string
}

// withClaims returns a token builder that signs the fixture claims after
// edit changed them.
func withClaims(edit func(e *verifyEnv, c *mandate.Claims)) func(testing.TB, *verifyEnv) string {
	return func(t testing.TB, e *verifyEnv) string {
		c := e.claims(t)
		edit(e, c)
		return e.sign(t, c)
	}
}

// withMap returns a token builder that signs the fixture claims as a JSON
// object after edit changed it, for claims of the wrong type.
func withMap(edit func(m map[string]any)) func(testing.TB, *verifyEnv) string {
	return func(t testing.TB, e *verifyEnv) string {
		m := e.claimsMap(t)
		edit(m)
		return e.signRaw(t, jwt.MapClaims(m), nil)
	}
}

// withHeader returns a token builder that signs the fixture claims under
// a header edit changed.
func withHeader(edit func(h map[string]any)) func(testing.TB, *verifyEnv) string {
	return func(t testing.TB, e *verifyEnv) string {
		return e.signRaw(t, e.claims(t), edit)
	}
}

var (
	errCheckerDown = errors.New("revocation store unreachable")
	errEpochDown   = errors.New("epoch store unreachable")
)

type epochFunc func(ctx context.Context, zone string) (int64, error)

func (f epochFunc) DelegationEpoch(ctx context.Context, zone string) (int64, error) {
	return f(ctx, zone)
}

// refusals is the attack set and every other token Verify must refuse.
func refusals() []refusal {
	ago := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(fixtureNow.Add(-d)) }
	ahead := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(fixtureNow.Add(d)) }
	invalid := func(errs ...error) []error { return append(errs, mandate.ErrInvalidToken) }
	return []refusal{
		{
			name:  "empty token",
			token: func(testing.TB, *verifyEnv) string { return "" },
			want:  []error{mandate.ErrMissingToken},
			code:  "missing_token",
		},
		{
			name: "alg none",
			token: func(t testing.TB, e *verifyEnv) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodNone, e.claims(t))
				tok.Header["kid"] = fixtureKID
				s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			want: invalid(mandate.ErrAlgorithm, jwt.ErrTokenSignatureInvalid),
		},
		{
			name: "alg NONE",
			token: func(t testing.TB, e *verifyEnv) string {
				tok := jwt.NewWithClaims(jwt.SigningMethodNone, e.claims(t))
				tok.Header["kid"] = fixtureKID
				tok.Header["alg"] = "NONE"
				s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			want: invalid(mandate.ErrAlgorithm, jwt.ErrTokenUnverifiable),
		},
		{
			name: "HS256 keyed with the public key",
			token: func(t testing.TB, e *verifyEnv) string {
				pub, err := e.key.PublicKey.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				tok := jwt.NewWithClaims(jwt.SigningMethodHS256, e.claims(t))
				tok.Header["kid"] = fixtureKID
				s, err := tok.SignedString(pub)
				if err != nil {
					t.Fatal(err)
				}
				return s
			},
			want: invalid(mandate.ErrAlgorithm, jwt.ErrTokenSignatureInvalid),
		},
		{
			name:  "numeric kid",
			token: withHeader(func(h map[string]any) { h["kid"] = 1 }),
			want:  invalid(mandate.ErrKeyID, jwt.ErrTokenUnverifiable),
		},
		{
			name:  "missing kid",
			token: withHeader(func(h map[string]any) { delete(h, "kid") }),
			want:  invalid(mandate.ErrKeyID),
		},
		{
			name:  "empty kid",
			token: withHeader(func(h map[string]any) { h["kid"] = "" }),
			want:  invalid(mandate.ErrKeyID),
		},
		{
			name:  "critical header extension",
			token: withHeader(func(h map[string]any) { h["crit"] = []string{"exp"} }),
			want:  invalid(mandate.ErrKeyID),
		},
		{
			name:  "unknown kid",
			token: withHeader(func(h map[string]any) { h["kid"] = "key-unknown" }),
			want:  invalid(mandate.ErrUnknownKey, jwt.ErrTokenUnverifiable),
		},
		{
			name: "signed by another key under the same kid",
			token: func(t testing.TB, e *verifyEnv) string {
				return signWithKey(t, newTestKey(t), e.claims(t), nil)
			},
			want: invalid(mandate.ErrSignature, jwt.ErrTokenSignatureInvalid, jwt.ErrECDSAVerification),
		},
		{
			name: "payload swapped after signing",
			token: func(t testing.TB, e *verifyEnv) string {
				good := strings.Split(e.sign(t, e.claims(t)), ".")
				c := e.claims(t)
				c.Scope = "read write admin"
				other := strings.Split(e.sign(t, c), ".")
				return good[0] + "." + other[1] + "." + good[2]
			},
			want: invalid(mandate.ErrSignature),
		},
		{
			name: "signature segment missing",
			token: func(t testing.TB, e *verifyEnv) string {
				s := e.sign(t, e.claims(t))
				return s[:strings.LastIndexByte(s, '.')]
			},
			want: invalid(mandate.ErrMalformed, jwt.ErrTokenMalformed),
		},
		{
			name:  "exp 0",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.ExpiresAt = jwt.NewNumericDate(time.Unix(0, 0)) }),
			want:  invalid(mandate.ErrExpired, jwt.ErrTokenExpired),
		},
		{
			name:  "exp as a string",
			token: withMap(func(m map[string]any) { m["exp"] = "1790000300" }),
			want:  invalid(mandate.ErrClaimType, jwt.ErrTokenMalformed, jwt.ErrInvalidType),
		},
		{
			name:  "exp negative",
			token: withMap(func(m map[string]any) { m["exp"] = -1 }),
			want:  invalid(mandate.ErrClaimType),
		},
		{
			name:  "exp missing",
			token: withMap(func(m map[string]any) { delete(m, "exp") }),
			want:  invalid(mandate.ErrMissingClaim, jwt.ErrTokenRequiredClaimMissing),
		},
		{
			name:  "expired beyond the leeway",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.ExpiresAt = ago(90 * time.Second) }),
			want:  invalid(mandate.ErrExpired, jwt.ErrTokenExpired),
		},
		{
			name:  "nbf beyond the leeway",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.NotBefore = ahead(2 * time.Minute) }),
			want:  invalid(mandate.ErrNotYetValid, jwt.ErrTokenNotValidYet),
		},
		{
			name:  "iat an hour ahead",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.IssuedAt = ahead(time.Hour) }),
			want:  invalid(mandate.ErrIssuedInFuture, jwt.ErrTokenUsedBeforeIssued),
		},
		{
			name:  "iat missing",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.IssuedAt = nil }),
			want:  invalid(mandate.ErrMissingClaim),
		},
		{
			name:  "aud 123",
			token: withMap(func(m map[string]any) { m["aud"] = 123 }),
			want:  invalid(mandate.ErrClaimType, jwt.ErrInvalidType),
		},
		{
			name:  "aud array of numbers",
			token: withMap(func(m map[string]any) { m["aud"] = []any{1, 2} }),
			want:  invalid(mandate.ErrClaimType),
		},
		{
			name:  "wrong audience",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.Audience = jwt.ClaimStrings{"resource://other"} }),
			want:  invalid(mandate.ErrAudience, jwt.ErrTokenInvalidAudience),
		},
		{
			name:  "wrong issuer",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.Issuer = "https://sts.evil.example" }),
			want:  invalid(mandate.ErrIssuer, jwt.ErrTokenInvalidIssuer),
		},
		{
			name:  "scope not a string",
			token: withMap(func(m map[string]any) { m["scope"] = []string{"read"} }),
			want:  invalid(mandate.ErrClaimType),
		},
		{
			name:  "hop_count fractional",
			token: withMap(func(m map[string]any) { m["hop_count"] = 1.5 }),
			want:  invalid(mandate.ErrClaimType),
		},
		{
			name:  "hop_count negative",
			token: withMap(func(m map[string]any) { m["hop_count"] = -1 }),
			want:  invalid(mandate.ErrClaimType),
		},
		{
			name:  "delegation_graph_epoch as a string",
			token: withMap(func(m map[string]any) { m["delegation_graph_epoch"] = "7" }),
			want:  invalid(mandate.ErrClaimType),
		},
		{
			name:  "delegation_chain entry not an object",
			token: withMap(func(m map[string]any) { m["delegation_chain"] = []any{"app-1"} }),
			want:  invalid(mandate.ErrClaimType),
		},
		{
			name: "delegation_chain entry without application_id",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) {
				c.DelegationChain = append(c.DelegationChain, mandate.ChainHop{AgentSessionID: "s"})
			}),
			want: invalid(mandate.ErrMissingClaim),
		},
		{
			name:  "jti missing",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.ID = "" }),
			want:  invalid(mandate.ErrMissingClaim),
		},
		{
			name:  "unknown use",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.Use = "admin" }),
			want:  invalid(mandate.ErrUse),
		},
		{
			name:  "use not allowed",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.Use = mandate.UseGateway }),
			want:  invalid(mandate.ErrUse),
		},
		{
			name:  "unknown sub_type",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.SubjectType = "robot" }),
			want:  invalid(mandate.ErrSubjectType),
		},
		{
			name: "several failing claims reported together",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) {
				c.ExpiresAt = ago(time.Hour)
				c.Audience = jwt.ClaimStrings{"resource://other"}
				c.ID = ""
			}),
			want: invalid(mandate.ErrExpired, mandate.ErrAudience, mandate.ErrMissingClaim,
				jwt.ErrTokenExpired, jwt.ErrTokenInvalidAudience, jwt.ErrTokenInvalidClaims),
		},
		{
			name:  "token over 4096 bytes",
			token: withMap(func(m map[string]any) { m["padding"] = strings.Repeat("p", mandate.MaxTokenSize) }),
			want:  invalid(mandate.ErrTokenTooLarge),
		},
		{
			name:  "wrong zone",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.ZoneID = "zone-2" }),
			want:  []error{mandate.ErrInvalidZone},
			code:  "invalid_zone",
		},
		{
			name:  "zone_id missing",
			token: withMap(func(m map[string]any) { delete(m, "zone_id") }),
			want:  []error{mandate.ErrInvalidZone},
			code:  "invalid_zone",
		},
		{
			name:  "missing scope",
			opts:  []mandate.VerifierOption{mandate.WithRequiredScopes("read", "admin")},
			token: withClaims(func(*verifyEnv, *mandate.Claims) {}),
			want:  []error{mandate.ErrInsufficientScope},
			code:  "insufficient_scope",
		},
		{
			name:  "scope prefix is not a scope",
			opts:  []mandate.VerifierOption{mandate.WithRequiredScopes("rea")},
			token: withClaims(func(*verifyEnv, *mandate.Claims) {}),
			want:  []error{mandate.ErrInsufficientScope},
			code:  "insufficient_scope",
		},
		{
			name:  "missing target",
			opts:  []mandate.VerifierOption{mandate.WithRequiredTargets("resource://api", "resource://other")},
			token: withClaims(func(*verifyEnv, *mandate.Claims) {}),
			want:  invalid(mandate.ErrTarget),
		},
		{
			name:  "session required",
			opts:  []mandate.VerifierOption{mandate.WithRequireSession()},
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.AgentSessionID = "" }),
			want:  []error{mandate.ErrSessionRequired},
			code:  "session_required",
		},
		{
			name:  "delegation required",
			opts:  []mandate.VerifierOption{mandate.WithRequireDelegation()},
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.DelegationEdgeID = "" }),
			want:  []error{mandate.ErrDelegationRequired},
			code:  "delegation_required",
		},
		{
			name:  "hop_count 11",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.HopCount = 11 }),
			want:  []error{mandate.ErrHopCountExceeded},
			code:  "hop_count_exceeded",
		},
		{
			name:  "hop_count above the configured maximum",
			opts:  []mandate.VerifierOption{mandate.WithMaxHopCount(0)},
			token: withClaims(func(*verifyEnv, *mandate.Claims) {}),
			want:  []error{mandate.ErrHopCountExceeded},
			code:  "hop_count_exceeded",
		},
		{
			name:  "application missing from the chain",
			opts:  []mandate.VerifierOption{mandate.WithRequiredChainApplications("app-parent", "app-other")},
			token: withClaims(func(*verifyEnv, *mandate.Claims) {}),
			want:  []error{mandate.ErrChainMismatch},
			code:  "chain_mismatch",
		},
		{
			name: "revoked delegation edge",
			opts: []mandate.VerifierOption{mandate.WithRevocationChecker(mandate.RevocationFunc(
				func(_ context.Context, _ string, a mandate.Anchors) (bool, error) {
					return a.DelegationEdgeID == "delegation-1", nil
				}))},
			token: withClaims(func(*verifyEnv, *mandate.Claims) {}),
			want:  []error{mandate.ErrSessionRevoked},
			code:  "session_revoked",
		},
		{
			name: "revocation check failing closed",
			opts: []mandate.VerifierOption{mandate.WithRevocationChecker(mandate.RevocationFunc(
				func(context.Context, string, mandate.Anchors) (bool, error) {
					return false, errCheckerDown
				}))},
			token: withClaims(func(*verifyEnv, *mandate.Claims) {}),
			want:  []error{mandate.ErrSessionRevoked, errCheckerDown},
			code:  "session_revoked",
		},
		{
			name: "stale delegation graph",
			opts: []mandate.VerifierOption{mandate.WithDelegationEpochs(epochFunc(
				func(context.Context, string) (int64, error) { return 8, nil }))},
			token: withClaims(func(*verifyEnv, *mandate.Claims) {}),
			want:  []error{mandate.ErrDelegationStale},
			code:  "delegation_stale",
		},
		{
			name: "epoch check failing closed",
			opts: []mandate.VerifierOption{mandate.WithDelegationEpochs(epochFunc(
				func(context.Context, string) (int64, error) { return 0, errEpochDown }))},
			token: withClaims(func(*verifyEnv, *mandate.Claims) {}),
			want:  []error{mandate.ErrDelegationStale, errEpochDown},
			code:  "delegation_stale",
		},
	}
}

func TestVerifyRefuses(t *testing.T) {
	for _, tt := range refusals() {
		t.Run(tt.name, func(t *testing.T) {
			e := newVerifyEnv(t)
			v := e.verifier(t, tt.opts...)
			claims, err := v.Verify(verifyContext(t), tt.token(t, e))
			if err == nil {
				t.Fatal("Verify accepted the token")
			}
			if claims != nil {
				t.Errorf("Verify returned claims with error %v", err)
			}
			t.Logf("error: %v", err)
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("errors.Is(err, %q) = false; err = %v", w, err)
				}
			}
			code := tt.code
			if code == "" {
				code = "invalid_token"
			}
			if got := mandate.ErrorCode(err); got != code {
				t.Errorf("ErrorCode = %q, want %q", got, code)
			}
		})
	}
}

// TestVerifyErrorsHideToken runs every refused token and checks that no
// error message contains the token or any of its segments.
func TestVerifyErrorsHideToken(t *testing.T) {
	for _, tt := range refusals() {
		t.Run(tt.name, func(t *testing.T) {
			e := newVerifyEnv(t)
			token := tt.token(t, e)
			_, err := e.verifier(t, tt.opts...).Verify(verifyContext(t), token)
			if err == nil {
				t.Fatal("Verify accepted the token")
			}
			msg := err.Error()
			if token != "" && strings.Contains(msg, token) {
				t.Fatalf("error contains the token: %v", msg)
			}
			for i, seg := range strings.Split(token, ".") {
				// Segments shorter than 8 bytes (an empty signature)
				// could match by chance and carry nothing.
				if len(seg) >= 8 && strings.Contains(msg, seg) {
					t.Fatalf("error contains segment %d of the token: %v", i, msg)
				}
			}
		})
	}
}

func TestVerifyMissingScopeNamed(t *testing.T) {
	e := newVerifyEnv(t)
	v := e.verifier(t, mandate.WithRequiredScopes("read", "admin", "delete"))
	_, err := v.Verify(verifyContext(t), e.sign(t, e.claims(t)))
	for _, s := range []string{`"admin"`, `"delete"`} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not name the missing scope %s", err, s)
		}
	}
	if err != nil && strings.Contains(err.Error(), `"read"`) {
		t.Errorf("error %v names a scope the token has", err)
	}
	if got := mandate.StatusCode(err); got != http.StatusForbidden {
		t.Errorf("StatusCode = %d, want 403", got)
	}
}

func TestVerifyAccepts(t *testing.T) {
	ago := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(fixtureNow.Add(-d)) }
	ahead := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(fixtureNow.Add(d)) }
	tests := []struct {
		name  string
		opts  []mandate.VerifierOption
		token func(t testing.TB, e *verifyEnv) string
		check func(t *testing.T, c *mandate.Claims)
	}{
		{
			name:  "fixture",
			token: withClaims(func(*verifyEnv, *mandate.Claims) {}),
		},
		{
			name:  "aud as a string",
			token: withMap(func(m map[string]any) { m["aud"] = fixtureAudience }),
		},
		{
			name:  "aud as an array",
			token: withMap(func(m map[string]any) { m["aud"] = []string{"resource://other", fixtureAudience} }),
		},
		{
			name:  "fractional exp",
			token: withMap(func(m map[string]any) { m["exp"] = 1790000300.5 }),
			check: func(t *testing.T, c *mandate.Claims) {
				if got := c.ExpiresAt.Unix(); got != 1790000300 {
					t.Errorf("exp = %d, want 1790000300", got)
				}
			},
		},
		{
			name:  "expired within the leeway",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.ExpiresAt = ago(30 * time.Second) }),
		},
		{
			name:  "iat ahead within the leeway",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.IssuedAt = ahead(30 * time.Second) }),
		},
		{
			name:  "nbf ahead within the leeway",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.NotBefore = ahead(30 * time.Second) }),
		},
		{
			name:  "gateway use where allowed",
			opts:  []mandate.VerifierOption{mandate.WithAllowedUses(mandate.UseGateway)},
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.Use = mandate.UseGateway }),
		},
		{
			name:  "hop_count 10",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) { c.HopCount = 10 }),
		},
		{
			name: "root session mandate without delegation claims",
			token: withClaims(func(_ *verifyEnv, c *mandate.Claims) {
				c.Use, c.SubjectType = mandate.UseSession, mandate.SubjectTypeApplication
				c.Scope, c.Target, c.AgentSessionID, c.DelegationEdgeID = "", nil, "", ""
				c.SourceSessionID, c.TargetSessionID, c.DelegationPath = "", "", nil
				c.DelegationChain, c.HopCount, c.DelegationGraphEpoch = nil, 0, 0
			}),
			check: func(t *testing.T, c *mandate.Claims) {
				want := baggage.Envelope{SubjectRecord: "authority-record-1"}
				if got := c.Envelope(); got != want {
					t.Errorf("Envelope = %+v, want %+v", got, want)
				}
			},
		},
		{
			name: "every configured requirement met",
			opts: []mandate.VerifierOption{
				mandate.WithRequiredScopes("write", "read"),
				mandate.WithRequiredTargets("resource://api"),
				mandate.WithRequireSession(),
				mandate.WithRequireDelegation(),
				mandate.WithRequiredChainApplications("app-parent", "app-1"),
				mandate.WithMaxHopCount(1),
				mandate.WithRevocationChecker(mandate.RevocationFunc(
					func(context.Context, string, mandate.Anchors) (bool, error) { return false, nil })),
				mandate.WithDelegationEpochs(epochFunc(
					func(context.Context, string) (int64, error) { return 7, nil })),
			},
			token: withClaims(func(*verifyEnv, *mandate.Claims) {}),
		},
		{
			name: "unknown claims ignored",
			token: withMap(func(m map[string]any) {
				m["ISS"] = "https://ignored.example"
				m["extra"] = map[string]any{"nested": true}
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newVerifyEnv(t)
			c, err := e.verifier(t, tt.opts...).Verify(verifyContext(t), tt.token(t, e))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c == nil || c.ZoneID != fixtureZone {
				t.Fatalf("Verify returned claims %+v", c)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestVerifyFixtureClaims(t *testing.T) {
	e := newVerifyEnv(t)
	want := e.claims(t)
	got, err := e.verifier(t).Verify(verifyContext(t), e.sign(t, want))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Verify claims =\n%+v\nwant\n%+v", got, want)
	}
	if env := got.Envelope(); env != fixtureEnvelope {
		t.Errorf("Envelope = %+v, want %+v", env, fixtureEnvelope)
	}
}

func TestVerifyRevocationAnchors(t *testing.T) {
	e := newVerifyEnv(t)
	var (
		mu    sync.Mutex
		zone  string
		seen  mandate.Anchors
		calls int
	)
	rc := mandate.RevocationFunc(func(_ context.Context, z string, a mandate.Anchors) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		zone, seen, calls = z, a, calls+1
		return false, nil
	})
	if _, err := e.verifier(t, mandate.WithRevocationChecker(rc)).
		Verify(verifyContext(t), e.sign(t, e.claims(t))); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	want := mandate.Anchors{
		SID:              "authority-record-1",
		RootSID:          "authority-record-root",
		AgentSessionID:   "session-child",
		DelegationEdgeID: "delegation-1",
	}
	if calls != 1 || zone != fixtureZone || seen != want {
		t.Errorf("checker called %d times with zone %q, anchors %+v; want once with %q, %+v",
			calls, zone, seen, fixtureZone, want)
	}
}

func TestNewVerifier(t *testing.T) {
	tests := []struct {
		name     string
		issuer   string
		zone     string
		audience string
		opts     []mandate.VerifierOption
		ok       bool
	}{
		{name: "https", issuer: "https://sts.example.com", ok: true},
		{name: "https with path", issuer: "https://example.com/sts/", ok: true},
		{name: "http localhost", issuer: "http://localhost:8080", ok: true},
		{name: "http 127/8", issuer: "http://127.9.9.9", ok: true},
		{name: "http ::1", issuer: "http://[::1]:9000", ok: true},
		{name: "http remote", issuer: "http://sts.example.com"},
		{name: "http lookalike", issuer: "http://localhost.example.com"},
		{name: "http remote, insecure allowed", issuer: "http://sts.example.com",
			opts: []mandate.VerifierOption{mandate.WithInsecureIssuer()}, ok: true},
		{name: "other scheme", issuer: "ftp://sts.example.com",
			opts: []mandate.VerifierOption{mandate.WithInsecureIssuer()}},
		{name: "relative", issuer: "/sts"},
		{name: "query", issuer: "https://sts.example.com/?zone_id=x"},
		{name: "user info", issuer: "https://u:p@sts.example.com"},
		{name: "not a URL", issuer: "https://sts example.com:x"},
		{name: "empty issuer", issuer: ""},
		{name: "empty zone", issuer: "https://sts.example.com", zone: "-"},
		{name: "empty audience", issuer: "https://sts.example.com", audience: "-"},
		{name: "empty required scope", issuer: "https://sts.example.com",
			opts: []mandate.VerifierOption{mandate.WithRequiredScopes("read", "")}},
		{name: "spaced required scope", issuer: "https://sts.example.com",
			opts: []mandate.VerifierOption{mandate.WithRequiredScopes("read write")}},
		{name: "max hop count above 10", issuer: "https://sts.example.com",
			opts: []mandate.VerifierOption{mandate.WithMaxHopCount(11)}},
		{name: "nil options keep defaults", issuer: "https://sts.example.com",
			opts: []mandate.VerifierOption{nil, mandate.WithHTTPClient(nil), mandate.WithClock(nil),
				mandate.WithKeySetTTL(0), mandate.WithFetchTimeout(-1), mandate.WithRefetchInterval(0),
				mandate.WithAllowedUses(), mandate.WithMaxHopCount(-1),
				mandate.WithRevocationChecker(nil), mandate.WithDelegationEpochs(nil)},
			ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			zone, aud := fixtureZone, fixtureAudience
			if tt.zone == "-" {
				zone = ""
			}
			if tt.audience == "-" {
				aud = ""
			}
			v, err := mandate.NewVerifier(tt.issuer, zone, aud, tt.opts...)
			if tt.ok && (err != nil || v == nil) {
				t.Fatalf("NewVerifier = %v, %v; want a verifier", v, err)
			}
			if !tt.ok && (err == nil || v != nil) {
				t.Fatalf("NewVerifier = %v, %v; want an error", v, err)
			}
		})
	}
}
