// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/otelcaracal/otelcaracal/mandate"
)

func ExampleVerifier() {
	// An in-process issuer: a signing key whose public half is served as
	// the zone's JWKS.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	signer, err := mandate.NewSigner("key-1", key)
	if err != nil {
		panic(err)
	}
	jwks, err := json.Marshal(mandate.JWKS{Keys: []mandate.JWK{signer.PublicJWK()}})
	if err != nil {
		panic(err)
	}
	issuer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	defer issuer.Close()

	// A fixed clock keeps the example's output stable.
	now := time.Date(2026, 9, 1, 12, 0, 0, 0, time.UTC)
	v, err := mandate.NewVerifier(issuer.URL, "zone-1", "resource://api",
		mandate.WithRequiredScopes("read"),
		mandate.WithClock(func() time.Time { return now }),
	)
	if err != nil {
		panic(err)
	}

	claims := &mandate.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer.URL,
			Subject:   "user-1",
			Audience:  jwt.ClaimStrings{"resource://api"},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
			ID:        "018f7d6a-8f4a-7d9f-9a54-5e4fd7df0001",
		},
		ZoneID:           "zone-1",
		ClientID:         "app-1",
		Scope:            "read write",
		SID:              "authority-record-1",
		RootSID:          "authority-record-root",
		Use:              mandate.UseResource,
		SubjectType:      mandate.SubjectTypeUser,
		AgentSessionID:   "session-child",
		DelegationEdgeID: "delegation-2",
		DelegationPath:   []string{"delegation-1", "delegation-2"},
		HopCount:         2,
	}
	token, err := signer.Sign(claims)
	if err != nil {
		panic(err)
	}

	verified, err := v.Verify(context.Background(), token)
	if err != nil {
		fmt.Println(mandate.ErrorCode(err), err)
		return
	}
	fmt.Printf("%s acts with %q\n", verified.ClientID, verified.Scopes())
	env := verified.Envelope()
	fmt.Printf("session %s, delegation %s after %s, hop %d\n",
		env.AgentSession, env.DelegationEdge, env.ParentEdge, env.Hop)

	// The same mandate, an hour later.
	now = now.Add(time.Hour)
	_, err = v.Verify(context.Background(), token)
	fmt.Println(mandate.StatusCode(err), mandate.ErrorCode(err), err)
	// Output:
	// app-1 acts with ["read" "write"]
	// session session-child, delegation delegation-2 after delegation-1, hop 2
	// 401 invalid_token caracal mandate: invalid token: token expired
}

func ExampleWriteError() {
	rec := httptest.NewRecorder()
	mandate.WriteError(rec, mandate.ErrInsufficientScope)
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Print(rec.Body)
	// Output:
	// 403 application/json
	// {"error":"insufficient_scope","error_description":"Required scope is missing"}
}
