// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/caracaltest"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/mandate"
)

// A delegated call through the Gateway to a tool that verifies its
// mandate.
func ExampleNewClient() {
	cp := caracaltest.NewServer()
	defer cp.Close()

	// The tool: only verified mandates for resource://tools get in.
	v, _ := cp.Verifier("resource://tools")
	tool := httptest.NewServer(gateway.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := mandate.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "hop %d via %v", claims.HopCount, claims.DelegationPath)
	}), "tool", gateway.WithVerifier(v)))
	defer tool.Close()
	cp.AddResource("resource://tools", tool.URL, "tools:read")

	// A session holding a delegation for the tool.
	root, _ := cp.NewSession("")
	child, _ := cp.NewSession(root)
	edge, _ := cp.NewDelegation(caracaltest.Delegation{
		Source: root, Target: child, Resource: "resource://tools", Scopes: []string{"tools:read"},
	})

	sts, _ := cp.STSClient()
	client := gateway.NewClient(
		gateway.WithGateway(cp.GatewayURL(), gateway.Binding{Resource: "resource://tools", UpstreamPrefix: tool.URL}),
		gateway.WithMandates(gateway.Mint(mandate.NewMintCache(sts), []string{"tools:read"}, 0)),
	)
	defer client.CloseIdleConnections()

	ctx, _ := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{
		AgentSession: child, DelegationEdge: edge, Hop: 1,
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tool.URL+"/search", nil)
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body) == fmt.Sprintf("hop 1 via [%s]", edge))
	// Output: 200 true
}
