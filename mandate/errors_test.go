// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/otelcaracal/otelcaracal/mandate"
)

func TestErrorTable(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		code        string
		status      int
		description string
	}{
		{"missing token", mandate.ErrMissingToken, "missing_token", 401, "Missing bearer token"},
		{"invalid token", mandate.ErrInvalidToken, "invalid_token", 401, "Token validation failed"},
		{"invalid zone", mandate.ErrInvalidZone, "invalid_zone", 401, "Token zone validation failed"},
		{"session revoked", mandate.ErrSessionRevoked, "session_revoked", 401, "Session revoked"},
		{"delegation stale", mandate.ErrDelegationStale, "delegation_stale", 401, "Delegation graph changed"},
		{"insufficient scope", mandate.ErrInsufficientScope, "insufficient_scope", 403, "Required scope is missing"},
		{"session required", mandate.ErrSessionRequired, "session_required", 403, "Session required"},
		{"delegation required", mandate.ErrDelegationRequired, "delegation_required", 403, "Delegation required"},
		{"chain mismatch", mandate.ErrChainMismatch, "chain_mismatch", 403, "Delegation chain validation failed"},
		{"hop count exceeded", mandate.ErrHopCountExceeded, "hop_count_exceeded", 403, "Hop count exceeded"},
		{"expired", mandate.ErrExpired, "invalid_token", 401, "Token validation failed"},
		{"unknown key", mandate.ErrUnknownKey, "invalid_token", 401, "Token validation failed"},
		{"key set", mandate.ErrKeySet, "invalid_token", 401, "Token validation failed"},
		{"too large", mandate.ErrTokenTooLarge, "invalid_token", 401, "Token validation failed"},
		{"wrapped", fmt.Errorf("middleware: %w", mandate.ErrChainMismatch),
			"chain_mismatch", 403, "Delegation chain validation failed"},
		{"unknown error", errors.New("boom"), "invalid_token", 401, "Token validation failed"},
		{"nil", nil, "invalid_token", 401, "Token validation failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mandate.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := mandate.ErrorDescription(tt.err); got != tt.description {
				t.Errorf("ErrorDescription = %q, want %q", got, tt.description)
			}
			if got := mandate.StatusCode(tt.err); got != tt.status {
				t.Errorf("StatusCode = %d, want %d", got, tt.status)
			}

			rec := httptest.NewRecorder()
			mandate.WriteError(rec, tt.err)
			if rec.Code != tt.status {
				t.Errorf("WriteError status = %d, want %d", rec.Code, tt.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			want := map[string]string{"error": tt.code, "error_description": tt.description}
			if len(body) != 2 || body["error"] != want["error"] ||
				body["error_description"] != want["error_description"] {
				t.Errorf("body = %v, want %v", body, want)
			}
		})
	}
}

func TestFinerErrorsAreInvalidToken(t *testing.T) {
	for _, err := range []error{
		mandate.ErrTokenTooLarge, mandate.ErrMalformed, mandate.ErrAlgorithm, mandate.ErrKeyID,
		mandate.ErrUnknownKey, mandate.ErrKeySet, mandate.ErrSignature, mandate.ErrExpired,
		mandate.ErrNotYetValid, mandate.ErrIssuedInFuture, mandate.ErrAudience, mandate.ErrIssuer,
		mandate.ErrMissingClaim, mandate.ErrClaimType, mandate.ErrUse, mandate.ErrSubjectType,
		mandate.ErrTarget,
	} {
		if !errors.Is(err, mandate.ErrInvalidToken) {
			t.Errorf("errors.Is(%v, ErrInvalidToken) = false", err)
		}
	}
}

func TestWriteErrorChallenge(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{name: "missing token", err: mandate.ErrMissingToken, want: "Bearer"},
		{name: "invalid token", err: mandate.ErrExpired, want: `Bearer error="invalid_token"`},
		{name: "insufficient scope", err: mandate.ErrInsufficientScope, want: `Bearer error="insufficient_scope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mandate.WriteError(rec, tt.err)
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.want {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.want)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
		})
	}
}

// TestWriteErrorHidesDetails checks that the body carries the table's
// text, not the error's message with its claim values.
func TestWriteErrorHidesDetails(t *testing.T) {
	e := newVerifyEnv(t)
	c := e.claims(t)
	c.ZoneID = "zone-secret-value"
	token := e.sign(t, c)
	_, err := e.verifier(t).Verify(verifyContext(t), token)
	if !errors.Is(err, mandate.ErrInvalidZone) {
		t.Fatalf("Verify = %v, want ErrInvalidZone", err)
	}
	rec := httptest.NewRecorder()
	mandate.WriteError(rec, err)
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("status = %d", rec.Code)
	}
	for _, s := range []string{"zone-secret-value", token} {
		if body := rec.Body.String(); strings.Contains(body, s) {
			t.Errorf("body %q contains %q", body, s)
		}
	}
}
