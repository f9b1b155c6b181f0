// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate // import "github.com/otelcaracal/otelcaracal/mandate"

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// Signer signs claim sets as mandates: ES256 JWTs whose header carries
// typ JWT and the signer's kid (Caracal protocol §6.1). It is what an
// in-process control plane and tests mint tokens with; a Signer is safe
// for concurrent use.
type Signer struct {
	kid string
	key *ecdsa.PrivateKey
}

// NewSigner returns a Signer that signs with the P-256 private key key
// under the key id kid. It fails for an empty kid or a key that is nil or
// not on P-256.
func NewSigner(kid string, key *ecdsa.PrivateKey) (*Signer, error) {
	if kid == "" {
		return nil, errors.New("caracal mandate: signer needs a non-empty kid")
	}
	if key == nil || key.Curve != elliptic.P256() {
		return nil, errors.New("caracal mandate: signer needs a P-256 private key")
	}
	if _, err := key.Bytes(); err != nil {
		return nil, fmt.Errorf("caracal mandate: invalid signing key: %w", err)
	}
	return &Signer{kid: kid, key: key}, nil
}

// KeyID returns the key id the Signer writes into the kid header.
func (s *Signer) KeyID() string { return s.kid }

// Sign returns c signed as a compact JWT. It signs what it is given: it
// neither fills in nor checks claims, so a test can mint an expired or
// otherwise invalid mandate on purpose.
func (s *Signer) Sign(c *Claims) (string, error) {
	if c == nil {
		return "", errors.New("caracal mandate: no claims to sign")
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	t.Header["kid"] = s.kid
	token, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("caracal mandate: signing: %w", err)
	}
	return token, nil
}

// PublicJWK returns the public half of the Signer's key as a JWK, for the
// key set a Verifier fetches.
func (s *Signer) PublicJWK() JWK { return PublicJWK(s.kid, &s.key.PublicKey) }
