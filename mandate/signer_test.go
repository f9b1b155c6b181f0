// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/otelcaracal/otelcaracal/mandate"
)

func TestNewSigner(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		kid  string
		key  *ecdsa.PrivateKey
		ok   bool
	}{
		{name: "P-256", kid: "k1", key: newTestKey(t), ok: true},
		{name: "empty kid", kid: "", key: newTestKey(t)},
		{name: "nil key", kid: "k1"},
		{name: "P-384", kid: "k1", key: p384},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := mandate.NewSigner(tt.kid, tt.key)
			if tt.ok != (err == nil) || tt.ok != (s != nil) {
				t.Fatalf("NewSigner = %v, %v; want ok = %v", s, err, tt.ok)
			}
		})
	}
}

func TestSignerSign(t *testing.T) {
	s, key := newTestSigner(t, "k1")
	if s.KeyID() != "k1" {
		t.Errorf("KeyID = %q", s.KeyID())
	}
	token, err := s.Sign(fixtureClaims(t))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}

	// Read back with golang-jwt alone, against the Signer's public JWK.
	pub, err := s.PublicJWK().PublicKey()
	if err != nil || !pub.Equal(&key.PublicKey) {
		t.Fatalf("PublicJWK().PublicKey() = %v, %v", pub, err)
	}
	var got mandate.Claims
	tok, err := jwt.ParseWithClaims(token, &got, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"ES256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	for k, want := range map[string]any{"alg": "ES256", "typ": "JWT", "kid": "k1"} {
		if tok.Header[k] != want {
			t.Errorf("header %s = %v, want %v", k, tok.Header[k], want)
		}
	}
	if got.ID != fixtureClaims(t).ID {
		t.Errorf("jti = %q", got.ID)
	}

	if _, err := s.Sign(nil); err == nil {
		t.Error("Sign(nil) succeeded")
	}
}
