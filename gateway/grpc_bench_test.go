// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway_test

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/caracaltest"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/mandate"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// echoService answers unary calls with the agent session of the call.
type echoService struct {
	testgrpc.UnimplementedTestServiceServer
}

func (echoService) UnaryCall(
	ctx context.Context,
	_ *testgrpc.SimpleRequest,
) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{Username: baggage.FromContext(ctx).AgentSession}, nil
}

// BenchmarkGrpcUnary makes unary calls over loopback with the Caracal
// client and server pieces (GRPCDialOptions with a cached mandate,
// GRPCServerOptions) and with otelgrpc's handlers alone, given the Caracal
// propagator and the same authorization metadata set by hand. Both read
// and write the same envelope and trace context; the difference is the
// cost of the Caracal pieces. "caracal-verified" adds the verification of
// the mandate, which otelgrpc does not do.
func BenchmarkGrpcUnary(b *testing.B) {
	cp := caracaltest.NewServer()
	defer cp.Close()
	cp.AddResource(toolResource, "")
	session, err := cp.NewSession("")
	if err != nil {
		b.Fatal(err)
	}
	sts, err := cp.STSClient()
	if err != nil {
		b.Fatal(err)
	}
	// A session-bound mandate (no delegation) is cached (§5.4).
	mandates := gateway.Mint(mandate.NewMintCache(sts), nil, 0)
	v, err := cp.Verifier(cp.Issuer())
	if err != nil {
		b.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
	defer tp.Shutdown(context.Background())

	ctx, err := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{AgentSession: session})
	if err != nil {
		b.Fatal(err)
	}
	ctx, span := tp.Tracer("bench").Start(ctx, "caller")
	defer span.End()
	tok, err := mandates.Mandate(ctx, toolResource)
	if err != nil {
		b.Fatal(err)
	}

	otelOpts := []otelgrpc.Option{otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(propagator.New())}
	caracal := func(extra ...gateway.Option) []gateway.Option {
		return append([]gateway.Option{
			gateway.WithOTelGRPCOptions(otelgrpc.WithTracerProvider(tp)),
			gateway.WithPropagators(propagation.TraceContext{}),
		}, extra...)
	}
	for _, bc := range []struct {
		name   string
		server []grpc.ServerOption
		client func(authority string) []grpc.DialOption
		ctx    context.Context
	}{
		{
			name:   "otelgrpc",
			server: []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(otelOpts...))},
			client: func(string) []grpc.DialOption {
				return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelOpts...))}
			},
			ctx: metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok),
		},
		{
			name:   "caracal",
			server: gateway.GRPCServerOptions(caracal()...),
			client: func(authority string) []grpc.DialOption {
				return gateway.GRPCDialOptions(caracal(gateway.WithMandates(mandates),
					gateway.WithGRPCTargets(gateway.GRPCTarget{Resource: toolResource, Authority: authority}))...)
			},
			ctx: ctx,
		},
		{
			name:   "caracal-verified",
			server: gateway.GRPCServerOptions(caracal(gateway.WithVerifier(v))...),
			client: func(authority string) []grpc.DialOption {
				return gateway.GRPCDialOptions(caracal(gateway.WithMandates(mandates),
					gateway.WithGRPCTargets(gateway.GRPCTarget{Resource: toolResource, Authority: authority}))...)
			},
			ctx: ctx,
		},
	} {
		b.Run(bc.name, func(b *testing.B) {
			srv := grpc.NewServer(bc.server...)
			testgrpc.RegisterTestServiceServer(srv, echoService{})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = srv.Serve(ln)
			}()
			defer func() {
				srv.Stop()
				<-done
			}()
			opts := append(bc.client(ln.Addr().String()),
				grpc.WithTransportCredentials(insecure.NewCredentials()))
			conn, err := grpc.NewClient(ln.Addr().String(), opts...)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			client := testgrpc.NewTestServiceClient(conn)
			req := &testgrpc.SimpleRequest{}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := client.UnaryCall(bc.ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				if resp.GetUsername() != session {
					b.Fatalf("envelope not propagated: %q", resp.GetUsername())
				}
			}
		})
	}
}
