// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate // import "github.com/otelcaracal/otelcaracal/mandate"

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxKeySetSize is the largest JWKS response body read, in bytes (Caracal
// protocol §6.3). A larger body fails the fetch.
const MaxKeySetSize = 256 << 10

// The key set fetch defaults (Caracal protocol §6.3).
const (
	defaultKeySetTTL       = 5 * time.Minute
	defaultFetchTimeout    = 10 * time.Second
	defaultRefetchInterval = 30 * time.Second
)

// coordinateSize is the length of a P-256 coordinate, in bytes.
const coordinateSize = 32

var (
	errKeyRule = errors.New("caracal mandate: JWK is not an ES256 verification key")
	// The two reasons a key set body is refused, used as error details.
	errNotKeySet = errors.New("not a JWKS document")
	errNoKeys    = errors.New("no usable ES256 key in JWKS")

	errFetchIncomplete = newError(ErrKeySet, "key set fetch did not complete")
)

// keySet maps key ids to verification keys. It is never modified once
// built.
type keySet map[string]*ecdsa.PublicKey

// JWK is a JSON Web Key (RFC 7517) as the Caracal STS serves it: an ES256
// P-256 public key. Its JSON encoding is the JWKS member encoding.
type JWK struct {
	// KeyType is "EC" for every usable key.
	KeyType string `json:"kty"`
	// Curve is "P-256" for every usable key.
	Curve string `json:"crv,omitempty"`
	// Use is "sig" or empty.
	Use string `json:"use,omitempty"`
	// KeyOps lists the permitted operations; when set, it must contain
	// "verify".
	KeyOps []string `json:"key_ops,omitempty"`
	// KeyID is the id a token's kid header names.
	KeyID string `json:"kid,omitempty"`
	// Algorithm is "ES256" for every usable key.
	Algorithm string `json:"alg,omitempty"`
	// X is the x coordinate: 32 bytes big-endian, unpadded base64url.
	X string `json:"x,omitempty"`
	// Y is the y coordinate: 32 bytes big-endian, unpadded base64url.
	Y string `json:"y,omitempty"`
}

// JWKS is a JSON Web Key Set, the body of the issuer's
// /.well-known/jwks.json endpoint. An in-process control plane can serve
// the JSON encoding of a JWKS built from Signer.PublicJWK.
type JWKS struct {
	// Keys are the keys of the set, during a rotation the old key too.
	Keys []JWK `json:"keys"`
}

// PublicJWK returns the JWK of the P-256 public key pub under kid, with
// use "sig" and alg "ES256". It returns the zero JWK, which no verifier
// accepts, when pub is nil or not a valid P-256 key.
func PublicJWK(kid string, pub *ecdsa.PublicKey) JWK {
	if pub == nil || pub.Curve != elliptic.P256() {
		return JWK{}
	}
	b, err := pub.Bytes() // 0x04 || X || Y
	if err != nil || len(b) != 1+2*coordinateSize {
		return JWK{}
	}
	return JWK{
		KeyType:   "EC",
		Curve:     "P-256",
		Use:       "sig",
		KeyID:     kid,
		Algorithm: "ES256",
		X:         base64.RawURLEncoding.EncodeToString(b[1 : 1+coordinateSize]),
		Y:         base64.RawURLEncoding.EncodeToString(b[1+coordinateSize:]),
	}
}

// PublicKey returns the key k holds if k is acceptable for verifying
// mandates (Caracal protocol §6.3): kty EC, crv P-256, alg ES256, a
// non-empty kid, use absent or "sig", key_ops absent or containing
// "verify", and x and y each exactly 32 bytes of unpadded base64url that
// together name a point on the curve. Any other key gives an error.
func (k JWK) PublicKey() (*ecdsa.PublicKey, error) {
	switch {
	case k.KeyType != "EC", k.Curve != "P-256", k.Algorithm != "ES256":
		return nil, fmt.Errorf("%w: kty, crv or alg", errKeyRule)
	case k.KeyID == "":
		return nil, fmt.Errorf("%w: empty kid", errKeyRule)
	case k.Use != "" && k.Use != "sig":
		return nil, fmt.Errorf("%w: use %q", errKeyRule, k.Use)
	case k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify"):
		return nil, fmt.Errorf("%w: key_ops without verify", errKeyRule)
	}
	point := make([]byte, 1, 1+2*coordinateSize)
	point[0] = 4 // uncompressed point
	for _, c := range [...]string{k.X, k.Y} {
		b, err := base64.RawURLEncoding.Strict().DecodeString(c)
		if err != nil || len(b) != coordinateSize {
			return nil, fmt.Errorf("%w: coordinate is not 32 bytes", errKeyRule)
		}
		point = append(point, b...)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("%w: point not on P-256", errKeyRule)
	}
	return pub, nil
}

// parseKeySet reads a JWKS body and returns its acceptable keys by kid.
// Keys that fail the rules of JWK.PublicKey, or do not decode as a JWK,
// are skipped; of several keys with one kid the first is kept. A body with
// no acceptable key is an error.
func parseKeySet(body []byte) (keySet, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, errNotKeySet
	}
	keys := make(keySet, len(doc.Keys))
	for _, raw := range doc.Keys {
		var k JWK
		if json.Unmarshal(raw, &k) != nil {
			continue
		}
		if _, dup := keys[k.KeyID]; dup {
			continue
		}
		if pub, err := k.PublicKey(); err == nil {
			keys[k.KeyID] = pub
		}
	}
	if len(keys) == 0 {
		return nil, errNoKeys
	}
	return keys, nil
}

// keySetURL returns {issuer}/.well-known/jwks.json?zone_id={zone} (Caracal
// protocol §6.3).
func keySetURL(issuer, zone string) string {
	return strings.TrimRight(issuer, "/") + "/.well-known/jwks.json?zone_id=" +
		url.QueryEscape(zone)
}

// keyStore fetches and keeps the verification keys of one zone.
//
// Concurrent fetches are collapsed into one: the first caller fetches and
// the others wait for its result. This is the small part of
// golang.org/x/sync/singleflight that is needed here, written out so the
// module needs no dependency for it.
type keyStore struct {
	url      string
	client   *http.Client
	now      func() time.Time
	ttl      time.Duration
	timeout  time.Duration
	cooldown time.Duration // between refetches forced by unknown kids

	mu         sync.Mutex
	keys       keySet
	expires    time.Time
	forced     bool // whether lastForced is set
	lastForced time.Time
	inflight   *keyFetch
}

// keyFetch is one fetch in flight. Its fields are written before done is
// closed and only read after.
type keyFetch struct {
	done chan struct{}
	keys keySet
	err  error
	// abandoned reports that the fetch failed because the context of the
	// caller running it ended, so a waiter should try again itself.
	abandoned bool
}

// key returns the public key for kid. A kid missing from a fresh set
// forces one refetch, at most once per cooldown for the whole store, so
// tokens with made-up kids cannot turn into a stream of fetches.
func (s *keyStore) key(
	ctx context.Context,
	kid string,
) (*ecdsa.PublicKey, error) {
	keys, err := s.get(ctx, false)
	if err != nil {
		return nil, err
	}
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	if keys, err = s.get(ctx, true); err != nil {
		return nil, err
	}
	if k, ok := keys[kid]; ok {
		return k, nil
	}
	return nil, newError(ErrUnknownKey, "kid "+quoteClipped(kid))
}

// get returns the key set, fetching it when none is held or the held one
// has expired. With refetch it also fetches a fresh set, unless a forced
// fetch happened within the cooldown, in which case the held set is
// returned. A failed fetch keeps the set already held.
func (s *keyStore) get(ctx context.Context, refetch bool) (keySet, error) {
	s.mu.Lock()
	for {
		now := s.now()
		fresh := s.keys != nil && now.Before(s.expires)
		if fresh && !refetch {
			keys := s.keys
			s.mu.Unlock()
			return keys, nil
		}
		if f := s.inflight; f != nil {
			s.mu.Unlock()
			select {
			case <-f.done:
			case <-ctx.Done():
				return nil, newError(ErrKeySet, "waiting for key set", ctx.Err())
			}
			if !f.abandoned {
				return f.keys, f.err
			}
			s.mu.Lock()
			continue
		}
		if fresh && s.forced && now.Sub(s.lastForced) < s.cooldown {
			keys := s.keys
			s.mu.Unlock()
			return keys, nil
		}
		if fresh {
			s.forced, s.lastForced = true, now
		}
		break
	}
	f := &keyFetch{done: make(chan struct{}), err: errFetchIncomplete}
	s.inflight = f
	s.mu.Unlock()
	// Release the waiters however the fetch ends, a panic included.
	defer func() {
		s.mu.Lock()
		s.inflight = nil
		if f.err == nil {
			s.keys, s.expires = f.keys, s.now().Add(s.ttl)
		}
		s.mu.Unlock()
		close(f.done)
	}()

	keys, err := s.fetch(ctx)
	f.keys, f.err, f.abandoned = keys, err, err != nil && ctx.Err() != nil
	return keys, err
}

// fetch downloads and parses the key set, within the fetch timeout and
// the body size limit.
func (s *keyStore) fetch(ctx context.Context) (keySet, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, http.NoBody)
	if err != nil {
		return nil, newError(ErrKeySet, "building request", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, newError(ErrKeySet, err.Error(), err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		detail := fmt.Sprintf("JWKS answered status %d", resp.StatusCode)
		return nil, newError(ErrKeySet, detail)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxKeySetSize+1))
	if err != nil {
		return nil, newError(ErrKeySet, "reading JWKS: "+err.Error(), err)
	}
	if len(body) > MaxKeySetSize {
		detail := fmt.Sprintf("JWKS larger than %d bytes", MaxKeySetSize)
		return nil, newError(ErrKeySet, detail)
	}
	keys, err := parseKeySet(body)
	if err != nil {
		return nil, newError(ErrKeySet, err.Error(), err)
	}
	return keys, nil
}

// quoteClipped quotes s for an error message, cut to 64 bytes.
func quoteClipped(s string) string {
	const limit = 64
	if len(s) > limit {
		return fmt.Sprintf("%q...", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}
