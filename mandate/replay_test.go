// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/otelcaracal/otelcaracal/caracaltest"
	"github.com/otelcaracal/otelcaracal/mandate"
)

func TestReplayCheck(t *testing.T) {
	cp := caracaltest.NewServer()
	defer cp.Close()
	now := time.Now()
	clock := func() time.Time { return now }
	v, err := cp.Verifier(cp.Issuer(), mandate.WithReplayCheck(), mandate.WithClock(clock),
		mandate.WithAllowedUses(mandate.UseGateway, mandate.UseSession))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := cp.Verifier(cp.Issuer(), mandate.WithAllowedUses(mandate.UseGateway))
	if err != nil {
		t.Fatal(err)
	}
	sign := func(use string) string {
		tok, err := cp.Sign(mandate.Claims{Use: use})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	gw := sign(mandate.UseGateway)
	if _, err := v.Verify(context.Background(), gw); err != nil {
		t.Fatalf("first use: %v", err)
	}
	_, err = v.Verify(context.Background(), gw)
	if !errors.Is(err, mandate.ErrReplay) || !errors.Is(err, mandate.ErrInvalidToken) ||
		mandate.StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("replay: %v", err)
	}
	// Without the option, a verifier accepts it again.
	for range 2 {
		if _, err := plain.Verify(context.Background(), gw); err != nil {
			t.Errorf("plain verifier: %v", err)
		}
	}
	// Session mandates are reusable.
	ses := sign(mandate.UseSession)
	for range 2 {
		if _, err := v.Verify(context.Background(), ses); err != nil {
			t.Errorf("session mandate: %v", err)
		}
	}
	// A mandate is forgotten only once it could no longer verify.
	now = now.Add(10 * time.Minute)
	if _, err := v.Verify(context.Background(), gw); !errors.Is(err, mandate.ErrExpired) {
		t.Errorf("after expiry: %v", err)
	}
}
