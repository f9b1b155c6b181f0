// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// BenchmarkVerify runs the whole of Verify on the fixture mandate, with
// the key set already cached.
func BenchmarkVerify(b *testing.B) {
	e := newVerifyEnv(b)
	v := e.verifier(b)
	token := e.sign(b, e.claims(b))
	ctx := context.Background()
	if _, err := v.Verify(ctx, token); err != nil { // fills the key cache
		b.Fatal(err)
	}

	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignatureOnly is the floor of BenchmarkVerify: the bare ES256
// check of the same token's signature.
func BenchmarkSignatureOnly(b *testing.B) {
	e := newVerifyEnv(b)
	token := e.sign(b, e.claims(b))
	i := strings.LastIndexByte(token, '.')
	input := token[:i]
	sig, err := jwt.NewParser().DecodeSegment(token[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	pub := &e.key.PublicKey

	b.ReportAllocs()
	for b.Loop() {
		if err := jwt.SigningMethodES256.Verify(input, sig, pub); err != nil {
			b.Fatal(err)
		}
	}
}
