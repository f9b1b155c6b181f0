// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/otelcaracal/otelcaracal/mandate"
)

// verifyDeadline bounds every verifier test that waits on the network.
const verifyDeadline = 5 * time.Second

// fixtureKID is the kid of the key verifyEnv signs with.
const fixtureKID = "key-1"

// keyServer is a loopback JWKS endpoint for one zone that counts the
// requests it receives.
type keyServer struct {
	*httptest.Server
	zone    string
	fetches atomic.Int64

	mu     sync.Mutex
	status int
	body   []byte
	delay  time.Duration   // sleep before answering, cut short by the client
	gate   <-chan struct{} // when set, wait for it before answering
}

func newKeyServer(t testing.TB, zone string, keys ...mandate.JWK) *keyServer {
	t.Helper()
	ks := &keyServer{zone: zone}
	ks.setKeys(t, keys...)
	ks.Server = httptest.NewServer(http.HandlerFunc(ks.serve))
	t.Cleanup(ks.Close)
	return ks
}

func (ks *keyServer) serve(w http.ResponseWriter, r *http.Request) {
	ks.fetches.Add(1)
	if r.URL.Path != "/.well-known/jwks.json" || r.URL.Query().Get("zone_id") != ks.zone {
		http.NotFound(w, r)
		return
	}
	ks.mu.Lock()
	status, body, delay, gate := ks.status, ks.body, ks.delay, ks.gate
	ks.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (ks *keyServer) setKeys(t testing.TB, keys ...mandate.JWK) {
	t.Helper()
	body, err := json.Marshal(mandate.JWKS{Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	ks.setBody(http.StatusOK, body)
}

func (ks *keyServer) setBody(status int, body []byte) {
	ks.mu.Lock()
	ks.status, ks.body = status, body
	ks.mu.Unlock()
}

// stepClock is a clock tests move by hand.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// verifyEnv is a zone with one signing key served by a keyServer, and a
// clock set to fixtureNow.
type verifyEnv struct {
	keys   *keyServer
	key    *ecdsa.PrivateKey
	signer *mandate.Signer
	clock  *stepClock
}

func newVerifyEnv(t testing.TB) *verifyEnv {
	t.Helper()
	s, k := newTestSigner(t, fixtureKID)
	return &verifyEnv{
		keys:   newKeyServer(t, fixtureZone, s.PublicJWK()),
		key:    k,
		signer: s,
		clock:  &stepClock{now: fixtureNow},
	}
}

// issuer is the issuer URL: the key server's loopback address.
func (e *verifyEnv) issuer() string { return e.keys.URL }

func (e *verifyEnv) verifier(t testing.TB, opts ...mandate.VerifierOption) *mandate.Verifier {
	t.Helper()
	all := append([]mandate.VerifierOption{
		mandate.WithClock(e.clock.Now),
		mandate.WithHTTPClient(e.keys.Client()),
		mandate.WithFetchTimeout(2 * time.Second),
	}, opts...)
	v, err := mandate.NewVerifier(e.issuer(), fixtureZone, fixtureAudience, all...)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// claims returns the fixture claims issued by the env's issuer.
func (e *verifyEnv) claims(t testing.TB) *mandate.Claims {
	t.Helper()
	c := fixtureClaims(t)
	c.Issuer = e.issuer()
	return c
}

// claimsMap returns the fixture claims issued by the env's issuer as a
// JSON object, for tokens that Claims cannot express.
func (e *verifyEnv) claimsMap(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(claimsFixture), &m); err != nil {
		t.Fatal(err)
	}
	m["iss"] = e.issuer()
	return m
}

func (e *verifyEnv) sign(t testing.TB, c *mandate.Claims) string {
	t.Helper()
	token, err := e.signer.Sign(c)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return token
}

// signRaw signs claims with the env's key under the header the edit
// function leaves (by default alg ES256, typ JWT, kid fixtureKID).
func (e *verifyEnv) signRaw(t testing.TB, claims jwt.Claims, edit func(map[string]any)) string {
	t.Helper()
	return signWithKey(t, e.key, claims, edit)
}

func signWithKey(t testing.TB, key *ecdsa.PrivateKey, claims jwt.Claims, edit func(map[string]any)) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = fixtureKID
	if edit != nil {
		edit(tok.Header)
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newTestKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newTestSigner(t testing.TB, kid string) (*mandate.Signer, *ecdsa.PrivateKey) {
	t.Helper()
	k := newTestKey(t)
	s, err := mandate.NewSigner(kid, k)
	if err != nil {
		t.Fatalf("NewSigner: %v", err)
	}
	return s, k
}

// fixtureClaims decodes claimsFixture.
func fixtureClaims(t testing.TB) *mandate.Claims {
	t.Helper()
	c := new(mandate.Claims)
	if err := json.Unmarshal([]byte(claimsFixture), c); err != nil {
		t.Fatalf("decoding the fixture: %v", err)
	}
	return c
}

func verifyContext(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), verifyDeadline)
	t.Cleanup(cancel)
	return ctx
}
