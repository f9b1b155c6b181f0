// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/otelcaracal/otelcaracal/mandate"
)

// newExampleSTS starts a stand-in STS that mints a five-minute mandate for
// any exchange, and holds the first one that asks for data:write until
// approval "ap-1" is granted.
func newExampleSTS() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			switch {
			case r.URL.Path == "/approvals/ap-1":
				_, _ = io.WriteString(w, `{"id":"ap-1","state":"approved"}`)
				return
			case r.PostFormValue("scope") == "data:write" &&
				r.PostFormValue("approval_id") == "":
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, `{"error":"interaction_required",`+
					`"approval_id":"ap-1","approval_type":"human",`+
					`"state":"pending"}`)
				return
			}
			_, _ = fmt.Fprintf(w, `{"access_token":"header.payload.sig",`+
				`"token_type":"Bearer","expires_in":300,"scope":%q,`+
				`"target_resources":[%q]}`,
				r.PostFormValue("scope"), r.PostFormValue("resource"))
		}))
}

func ExampleSTSClient_Exchange() {
	sts := newExampleSTS()
	defer sts.Close()

	client, err := mandate.NewSTSClient(sts.URL,
		mandate.StaticCredentials("z", "app", "application-secret"))
	if err != nil {
		fmt.Println(err)
		return
	}
	// A delegated mint: agent-2 acts under edge-1 (Caracal protocol
	// §10.12 step 4); the STS answers with a one-shot gateway mandate.
	tok, err := client.Exchange(context.Background(), mandate.ExchangeRequest{
		Resources:        []string{"resource://pipernet"},
		Scopes:           []string{"data:read"},
		AgentSessionID:   "agent-2",
		DelegationEdgeID: "edge-1",
		TTL:              300 * time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.TokenType, tok.ExpiresIn, tok.Scope, tok.TargetResources)
	// Printing the token never shows the mandate itself.
	fmt.Printf("%.28v\n", tok)
	// Output:
	// Bearer 5m0s data:read [resource://pipernet]
	// {AccessToken:[REDACTED] Toke
}

func ExampleSTSClient_WaitApproval() {
	sts := newExampleSTS()
	defer sts.Close()

	client, err := mandate.NewSTSClient(sts.URL,
		mandate.StaticCredentials("z", "app", "application-secret"))
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	req := mandate.ExchangeRequest{
		Resources: []string{"resource://pipernet"},
		Scopes:    []string{"data:write"},
	}
	_, err = client.Exchange(ctx, req)
	var hold *mandate.ApprovalRequiredError
	if !errors.As(err, &hold) {
		fmt.Println("no hold:", err)
		return
	}
	fmt.Println("held:", hold.ApprovalID, hold.State)

	state, err := client.WaitApproval(ctx, hold.ApprovalID, 20*time.Second)
	if err != nil || state != mandate.ApprovalApproved {
		fmt.Println("not approved:", state, err)
		return
	}
	req.ApprovalID = hold.ApprovalID
	tok, err := client.Exchange(ctx, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("minted:", tok.Scope)
	// Output:
	// held: ap-1 pending
	// minted: data:write
}

func ExampleMintCache_Mint() {
	sts := newExampleSTS()
	defer sts.Close()

	client, err := mandate.NewSTSClient(sts.URL,
		mandate.StaticCredentials("z", "app", "application-secret"))
	if err != nil {
		fmt.Println(err)
		return
	}
	cache := mandate.NewMintCache(client)

	// The lifecycle mandate (Caracal protocol §10.12 step 1) is reused
	// until a minute before it expires.
	lifecycle := mandate.ExchangeRequest{
		Resources: []string{"resource://pipernet"},
		Scopes:    []string{"agent:lifecycle"},
	}
	a, _ := cache.Mint(context.Background(), lifecycle)
	b, _ := cache.Mint(context.Background(), lifecycle)
	fmt.Println("same token:", a == b, "cached:", cache.Len())
	// Output: same token: true cached: 1
}
