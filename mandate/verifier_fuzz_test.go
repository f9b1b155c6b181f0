// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/otelcaracal/otelcaracal/mandate"
)

// FuzzVerify feeds arbitrary strings to Verify. It must not panic, must
// return claims exactly when it returns no error, must not echo the token
// in its error, and must accept only what golang-jwt on its own finds
// signed by the zone key.
func FuzzVerify(f *testing.F) {
	e := newVerifyEnv(f)
	v := e.verifier(f)
	pub := &e.key.PublicKey

	f.Add(e.sign(f, e.claims(f)))
	for _, r := range refusals() {
		f.Add(r.token(f, e))
	}
	for _, s := range []string{"", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJFUzI1NiJ9.e30.AA"} {
		f.Add(s)
	}

	ctx := context.Background()
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := v.Verify(ctx, token)
		if (claims == nil) == (err == nil) {
			t.Fatalf("Verify = %v, %v: want exactly one of claims and error", claims, err)
		}
		if err != nil {
			if code := mandate.ErrorCode(err); code != "invalid_token" && code != "missing_token" &&
				code != "invalid_zone" && code != "hop_count_exceeded" {
				t.Fatalf("ErrorCode = %q for %v", code, err)
			}
			if len(token) >= 16 && strings.Contains(err.Error(), token) {
				t.Fatalf("error contains the token: %v", err)
			}
			return
		}
		_, perr := jwt.Parse(token, func(*jwt.Token) (any, error) { return pub, nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithoutClaimsValidation())
		if perr != nil {
			t.Fatalf("Verify accepted a token golang-jwt refuses: %v", perr)
		}
	})
}

// FuzzJWKS feeds arbitrary bodies to the key set parser. It must not
// panic, and every key it returns must be a valid P-256 key under a
// non-empty kid that survives a JWK round trip.
func FuzzJWKS(f *testing.F) {
	good := mandate.PublicJWK("k1", &newTestKey(f).PublicKey)
	body, err := json.Marshal(mandate.JWKS{Keys: []mandate.JWK{good}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	for _, s := range []string{
		`{"keys":[]}`, `{"keys":null}`, `{"keys":[{}]}`, `{"keys":"x"}`, `[]`, `null`, ``,
		`{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k","x":"","y":""}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","kid":"k","key_ops":[],"x":"` +
			good.X + `","y":"` + good.Y + `"}]}`,
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, body []byte) {
		keys, err := mandate.ParseKeySet(body)
		if err != nil {
			if keys != nil {
				t.Fatalf("ParseKeySet returned keys with error %v", err)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("ParseKeySet returned no keys and no error")
		}
		for kid, pub := range keys {
			if kid == "" || pub == nil || pub.Curve != elliptic.P256() {
				t.Fatalf("key %q = %v", kid, pub)
			}
			again, err := mandate.PublicJWK(kid, pub).PublicKey()
			if err != nil || !again.Equal(pub) {
				t.Fatalf("key %q does not survive a JWK round trip: %v", kid, err)
			}
		}
	})
}
