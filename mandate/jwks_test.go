// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/otelcaracal/otelcaracal/mandate"
)

func TestPublicJWK(t *testing.T) {
	key := newTestKey(t)
	jwk := mandate.PublicJWK("k1", &key.PublicKey)

	b, err := json.Marshal(jwk)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "k1",
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %q", k, m[k], want)
		}
	}
	for _, k := range []string{"x", "y"} {
		if s, _ := m[k].(string); len(s) != 43 || strings.ContainsAny(s, "=+/") {
			t.Errorf("%s = %q, want 43 unpadded base64url characters", k, s)
		}
	}
	pub, err := jwk.PublicKey()
	if err != nil || !pub.Equal(&key.PublicKey) {
		t.Errorf("PublicKey() = %v, %v; want the signer's key", pub, err)
	}

	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, pub := range map[string]*ecdsa.PublicKey{"nil": nil, "P-384": &p384.PublicKey} {
		if got := mandate.PublicJWK("k1", pub); !reflect.DeepEqual(got, mandate.JWK{}) {
			t.Errorf("PublicJWK(%s) = %+v, want the zero JWK", name, got)
		}
	}
}

func TestParseKeySet(t *testing.T) {
	key, other := newTestKey(t), newTestKey(t)
	good := mandate.PublicJWK("k1", &key.PublicKey)
	b64 := base64.RawURLEncoding.EncodeToString
	edit := func(f func(*mandate.JWK)) mandate.JWK {
		k := good
		f(&k)
		return k
	}
	set := func(keys ...any) string {
		b, err := json.Marshal(map[string]any{"keys": keys})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	tests := []struct {
		name string
		body string
		want []string // kids accepted; none means an error
	}{
		{name: "valid", body: set(good), want: []string{"k1"}},
		{name: "use absent", body: set(edit(func(k *mandate.JWK) { k.Use = "" })), want: []string{"k1"}},
		{name: "key_ops with verify", body: set(edit(func(k *mandate.JWK) { k.KeyOps = []string{"sign", "verify"} })),
			want: []string{"k1"}},
		{name: "key_ops without verify", body: set(edit(func(k *mandate.JWK) { k.KeyOps = []string{"sign"} }))},
		{name: "key_ops empty",
			body: set(map[string]any{"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1",
				"key_ops": []string{}, "x": good.X, "y": good.Y})},
		{name: "use enc", body: set(edit(func(k *mandate.JWK) { k.Use = "enc" }))},
		{name: "kty RSA", body: set(edit(func(k *mandate.JWK) { k.KeyType = "RSA" }))},
		{name: "crv P-384", body: set(edit(func(k *mandate.JWK) { k.Curve = "P-384" }))},
		{name: "alg ES384", body: set(edit(func(k *mandate.JWK) { k.Algorithm = "ES384" }))},
		{name: "alg absent", body: set(edit(func(k *mandate.JWK) { k.Algorithm = "" }))},
		{name: "kid empty", body: set(edit(func(k *mandate.JWK) { k.KeyID = "" }))},
		{name: "x 31 bytes", body: set(edit(func(k *mandate.JWK) { k.X = b64(make([]byte, 31)) }))},
		{name: "y 33 bytes", body: set(edit(func(k *mandate.JWK) { k.Y = b64(make([]byte, 33)) }))},
		{name: "x padded", body: set(edit(func(k *mandate.JWK) { k.X += "=" }))},
		{name: "x not base64url", body: set(edit(func(k *mandate.JWK) { k.X = "+" + k.X[1:] }))},
		{name: "point off the curve", body: set(edit(func(k *mandate.JWK) {
			k.X, k.Y = b64(bytes.Repeat([]byte{1}, 32)), b64(bytes.Repeat([]byte{1}, 32))
		}))},
		{name: "point at zero", body: set(edit(func(k *mandate.JWK) {
			k.X, k.Y = b64(make([]byte, 32)), b64(make([]byte, 32))
		}))},
		{name: "numeric kid skipped",
			body: set(map[string]any{"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": 5, "x": good.X, "y": good.Y})},
		{name: "key_ops not an array skipped",
			body: set(map[string]any{"kty": "EC", "crv": "P-256", "alg": "ES256", "kid": "k1",
				"key_ops": "verify", "x": good.X, "y": good.Y})},
		{name: "invalid keys skipped, valid kept",
			body: set("junk", nil, edit(func(k *mandate.JWK) { k.Curve = "P-521" }), good,
				mandate.PublicJWK("k2", &other.PublicKey)),
			want: []string{"k1", "k2"}},
		{name: "first of a duplicated kid kept",
			body: set(good, mandate.PublicJWK("k1", &other.PublicKey)), want: []string{"k1"}},
		{name: "not JSON", body: "<html>"},
		{name: "keys not an array", body: `{"keys":"k1"}`},
		{name: "no keys member", body: `{}`},
		{name: "keys null", body: `{"keys":null}`},
		{name: "empty keys", body: `{"keys":[]}`},
		{name: "array body", body: `[` + set(good) + `]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := mandate.ParseKeySet([]byte(tt.body))
			if len(tt.want) == 0 {
				if err == nil || keys != nil {
					t.Fatalf("ParseKeySet = %v, %v; want an error", keys, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeySet: %v", err)
			}
			var kids []string
			for kid := range keys {
				kids = append(kids, kid)
			}
			slices.Sort(kids)
			if !slices.Equal(kids, tt.want) {
				t.Fatalf("kids = %v, want %v", kids, tt.want)
			}
			if !keys["k1"].Equal(&key.PublicKey) {
				t.Errorf("key k1 is not the first key served under k1")
			}
		})
	}
}

func TestKeySetRequest(t *testing.T) {
	const zone = "zone 1/ä&x=y"
	s, _ := newTestSigner(t, fixtureKID)
	ks := newKeyServer(t, zone, s.PublicJWK())
	issuer := ks.URL + "/"
	v, err := mandate.NewVerifier(issuer, zone, fixtureAudience,
		mandate.WithHTTPClient(ks.Client()),
		mandate.WithClock(func() time.Time { return fixtureNow }))
	if err != nil {
		t.Fatal(err)
	}
	c := fixtureClaims(t)
	c.Issuer, c.ZoneID = issuer, zone
	token, err := s.Sign(c)
	if err != nil {
		t.Fatal(err)
	}
	// The key server answers only its path and zone, so success means
	// the URL was {issuer without trailing /}/.well-known/jwks.json with
	// the zone query-escaped.
	if _, err := v.Verify(verifyContext(t), token); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

func TestUnknownKeyRefetchLimit(t *testing.T) {
	e := newVerifyEnv(t)
	v := e.verifier(t)
	c := e.claims(t)
	valid := e.sign(t, c)
	const n = 1000
	tokens := make([]string, n)
	// The kid is looked up before the signature is checked, so the tokens
	// reuse the valid token's signature rather than each being signed.
	sig := valid[strings.LastIndexByte(valid, '.'):]
	for i := range tokens {
		tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		tok.Header["kid"] = fmt.Sprintf("made-up-%d", i)
		unsigned, err := tok.SigningString()
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = unsigned + sig
	}

	ctx := verifyContext(t)
	if _, err := v.Verify(ctx, valid); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 16 {
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				if _, err := v.Verify(ctx, tokens[i]); !errors.Is(err, mandate.ErrUnknownKey) {
					errs <- fmt.Errorf("token %d: %v, want ErrUnknownKey", i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := e.keys.fetches.Load(); got > 2 {
		t.Fatalf("%d unknown kids caused %d fetches, want at most 1 beyond the first", n, got-1)
	}

	// One more forced refetch once the interval has passed, not two.
	e.clock.Advance(31 * time.Second)
	before := e.keys.fetches.Load()
	for _, tok := range tokens[:10] {
		if _, err := v.Verify(ctx, tok); !errors.Is(err, mandate.ErrUnknownKey) {
			t.Fatalf("Verify = %v, want ErrUnknownKey", err)
		}
	}
	if got := e.keys.fetches.Load() - before; got != 1 {
		t.Errorf("after the interval: %d fetches, want 1", got)
	}
	if _, err := v.Verify(ctx, valid); err != nil {
		t.Errorf("valid token after the storm: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	oldS, _ := newTestSigner(t, "old")
	newS, _ := newTestSigner(t, "new")
	newerS, _ := newTestSigner(t, "newer")
	ks := newKeyServer(t, fixtureZone, oldS.PublicJWK(), newS.PublicJWK())
	clock := &stepClock{now: fixtureNow}
	v, err := mandate.NewVerifier(ks.URL, fixtureZone, fixtureAudience,
		mandate.WithHTTPClient(ks.Client()), mandate.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	ctx := verifyContext(t)
	sign := func(s *mandate.Signer) string {
		c := fixtureClaims(t)
		c.Issuer = ks.URL
		c.ExpiresAt = jwt.NewNumericDate(fixtureNow.Add(time.Hour))
		tok, err := s.Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	step := func(name string, s *mandate.Signer, wantErr error, wantFetches int64) {
		t.Helper()
		_, err := v.Verify(ctx, sign(s))
		if wantErr == nil && err != nil || wantErr != nil && !errors.Is(err, wantErr) {
			t.Errorf("%s: Verify = %v, want %v", name, err, wantErr)
		}
		if got := ks.fetches.Load(); got != wantFetches {
			t.Errorf("%s: %d fetches, want %d", name, got, wantFetches)
		}
	}

	step("old key during the grace period", oldS, nil, 1)
	step("new key during the grace period", newS, nil, 1)

	ks.setKeys(t, newS.PublicJWK(), newerS.PublicJWK())
	step("newer key found by one refetch", newerS, nil, 2)
	step("removed key refused without another fetch", oldS, mandate.ErrUnknownKey, 2)
	step("new key still cached", newS, nil, 2)

	clock.Advance(6 * time.Minute)
	step("TTL expiry refetches", newS, nil, 3)
	step("removed key refetched once after the interval", oldS, mandate.ErrUnknownKey, 4)
	step("and not again", oldS, mandate.ErrUnknownKey, 4)
}

func TestKeySetSingleFlight(t *testing.T) {
	e := newVerifyEnv(t)
	gate := make(chan struct{})
	e.keys.mu.Lock()
	e.keys.gate = gate
	e.keys.mu.Unlock()
	v := e.verifier(t)
	ctx := verifyContext(t)
	token := e.sign(t, e.claims(t))

	const n = 32
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := v.Verify(ctx, token)
			errs <- err
		})
	}
	for e.keys.fetches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others queue up
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if got := e.keys.fetches.Load(); got != 1 {
		t.Errorf("%d concurrent first verifications made %d fetches, want 1", n, got)
	}
}

func TestKeySetFailures(t *testing.T) {
	invalidOnly, err := json.Marshal(mandate.JWKS{Keys: []mandate.JWK{{
		KeyType: "EC", Curve: "P-384", Algorithm: "ES384", KeyID: fixtureKID, X: "AA", Y: "AA",
	}}})
	if err != nil {
		t.Fatal(err)
	}
	oversize := append([]byte(`{"keys":[]`), bytes.Repeat([]byte(" "), mandate.MaxKeySetSize)...)
	oversize = append(oversize, '}')
	tests := []struct {
		name   string
		breakS func(ks *keyServer)
	}{
		{name: "server down", breakS: func(ks *keyServer) { ks.Close() }},
		{name: "status 500", breakS: func(ks *keyServer) { ks.setBody(http.StatusInternalServerError, nil) }},
		{name: "status 404", breakS: func(ks *keyServer) { ks.setBody(http.StatusNotFound, []byte(`{}`)) }},
		{name: "slow beyond the fetch timeout", breakS: func(ks *keyServer) {
			ks.mu.Lock()
			ks.delay = 10 * time.Second
			ks.mu.Unlock()
		}},
		{name: "garbage", breakS: func(ks *keyServer) { ks.setBody(http.StatusOK, []byte("\x00\xffnot json")) }},
		{name: "body over 256 KiB", breakS: func(ks *keyServer) { ks.setBody(http.StatusOK, oversize) }},
		{name: "only invalid keys", breakS: func(ks *keyServer) { ks.setBody(http.StatusOK, invalidOnly) }},
		{name: "empty key set", breakS: func(ks *keyServer) { ks.setBody(http.StatusOK, []byte(`{"keys":[]}`)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newVerifyEnv(t)
			good := e.keys.body
			v := e.verifier(t, mandate.WithFetchTimeout(200*time.Millisecond))
			token := e.sign(t, e.claims(t))
			tt.breakS(e.keys)

			start := time.Now()
			_, err := v.Verify(verifyContext(t), token)
			if elapsed := time.Since(start); elapsed > 2*time.Second {
				t.Errorf("Verify took %v", elapsed)
			}
			if !errors.Is(err, mandate.ErrKeySet) || !errors.Is(err, mandate.ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrKeySet", err)
			}
			if strings.Contains(err.Error(), token) {
				t.Fatalf("error contains the token")
			}
			t.Logf("error: %v", err)

			if tt.name == "server down" {
				return
			}
			// A failure is not cached: the next Verify fetches again.
			e.keys.mu.Lock()
			e.keys.delay = 0
			e.keys.mu.Unlock()
			e.keys.setBody(http.StatusOK, good)
			if _, err := v.Verify(verifyContext(t), token); err != nil {
				t.Errorf("Verify after recovery: %v", err)
			}
		})
	}
}

func TestVerifyContextCanceled(t *testing.T) {
	e := newVerifyEnv(t)
	gate := make(chan struct{})
	t.Cleanup(func() { close(gate) })
	e.keys.mu.Lock()
	e.keys.gate = gate
	e.keys.mu.Unlock()
	v := e.verifier(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err := v.Verify(ctx, e.sign(t, e.claims(t)))
	if !errors.Is(err, mandate.ErrKeySet) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify = %v, want ErrKeySet and context.DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("Verify took %v after its context ended", elapsed)
	}
}
