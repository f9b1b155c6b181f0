// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway_test

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/caracaltest"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/mandate"
)

// delegationService answers a unary call with the delegation path of its
// verified mandate.
type delegationService struct {
	testgrpc.UnimplementedTestServiceServer
}

func (delegationService) UnaryCall(
	ctx context.Context,
	_ *testgrpc.SimpleRequest,
) (*testgrpc.SimpleResponse, error) {
	claims, _ := mandate.ClaimsFromContext(ctx)
	path := fmt.Sprintf("hop %d via %v", claims.HopCount, claims.DelegationPath)
	return &testgrpc.SimpleResponse{Username: path}, nil
}

// A delegated gRPC call to a tool service that verifies its mandate.
func ExampleGRPCServerOptions() {
	cp := caracaltest.NewServer()
	defer cp.Close()
	cp.AddResource("resource://tools", "", "tools:read")

	// The tool is called directly, not through the Gateway: it accepts the
	// delegated mandate the STS mints for it (use=gateway, for the
	// issuer), and verifies it.
	v, _ := cp.Verifier(cp.Issuer(),
		mandate.WithAllowedUses(mandate.UseGateway), mandate.WithRequiredTargets("resource://tools"))
	srv := grpc.NewServer(gateway.GRPCServerOptions(gateway.WithVerifier(v))...)
	testgrpc.RegisterTestServiceServer(srv, delegationService{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() { _ = srv.Serve(ln) }()
	defer srv.Stop()

	// A session holding a delegation for the tool.
	root, _ := cp.NewSession("")
	child, _ := cp.NewSession(root)
	edge, _ := cp.NewDelegation(caracaltest.Delegation{
		Source: root, Target: child, Resource: "resource://tools", Scopes: []string{"tools:read"},
	})

	// The agent's connection mints a mandate for each call to the tool.
	sts, _ := cp.STSClient()
	tool := gateway.GRPCTarget{Resource: "resource://tools", Authority: ln.Addr().String()}
	opts := gateway.GRPCDialOptions(
		gateway.WithGRPCTargets(tool),
		gateway.WithMandates(gateway.Mint(mandate.NewMintCache(sts), []string{"tools:read"}, 0)),
	)
	opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials())) // loopback only
	conn, _ := grpc.NewClient(ln.Addr().String(), opts...)
	defer conn.Close()

	ctx, _ := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{
		AgentSession: child, DelegationEdge: edge, Hop: 1,
	})
	resp, err := testgrpc.NewTestServiceClient(conn).UnaryCall(ctx, &testgrpc.SimpleRequest{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.GetUsername() == fmt.Sprintf("hop 1 via [%s]", edge))
	// Output: true
}
