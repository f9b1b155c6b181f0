// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"fmt"
	"net"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/mandate"
)

// The source index: a gRPC service the research agent's fetcher looks
// topics up in, so that the chain crosses HTTP and gRPC.
const (
	indexResource = "resource://source-index"
	indexScope    = "index:read"
	// lookupMethod is rpc Lookup(google.protobuf.StringValue) returns
	// (google.protobuf.Int32Value) of service index.v1.SourceIndex.
	lookupMethod = "/index.v1.SourceIndex/Lookup"
)

// sourceIndex is the gRPC server of the source index and the research
// agent's connection to it.
type sourceIndex struct {
	server *grpc.Server
	served chan struct{}
	addr   string
	tracer trace.Tracer
	conn   *grpc.ClientConn
}

// indexService describes index.v1.SourceIndex, written out by hand so that
// the demonstration builds without a protobuf compiler.
var indexService = grpc.ServiceDesc{
	ServiceName: "index.v1.SourceIndex",
	HandlerType: (*indexServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Lookup", Handler: lookupHandler}},
}

// indexServer is what implements index.v1.SourceIndex.
type indexServer interface {
	serveLookup(ctx context.Context, topic string) *wrapperspb.Int32Value
}

func lookupHandler(
	srv any,
	ctx context.Context,
	dec func(any) error,
	interceptor grpc.UnaryServerInterceptor,
) (any, error) {
	in := new(wrapperspb.StringValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	lookup := func(ctx context.Context, req any) (any, error) {
		return srv.(indexServer).serveLookup(ctx, req.(*wrapperspb.StringValue).GetValue()), nil
	}
	if interceptor == nil {
		return lookup(ctx, in)
	}
	return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: lookupMethod}, lookup)
}

// startIndex starts the source index on a loopback port, and the research
// agent's connection to it, traced by research.
//
// The Caracal Gateway proxies HTTP, so the index is called directly and
// checks what the Gateway would: it accepts the delegated mandate the STS
// mints for it (use=gateway, audience the issuer, target the index, with
// the index scope), each one once.
func (d *demo) startIndex(research *sdktrace.TracerProvider) (*sourceIndex, error) {
	v, err := d.cp.Verifier(d.cp.Issuer(),
		mandate.WithAllowedUses(mandate.UseGateway),
		mandate.WithRequiredTargets(indexResource),
		mandate.WithRequiredScopes(indexScope),
		mandate.WithReplayCheck())
	if err != nil {
		return nil, err
	}
	tp := d.telemetry.provider("source-index")
	x := &sourceIndex{tracer: tp.Tracer("github.com/otelcaracal/otelcaracal/examples/quickstart")}
	// Every call verified, or refused, before its server span starts.
	x.server = grpc.NewServer(gateway.GRPCServerOptions(
		gateway.WithVerifier(v),
		gateway.WithOTelGRPCOptions(otelgrpc.WithTracerProvider(tp)),
	)...)
	x.server.RegisterService(&indexService, x)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	x.addr = ln.Addr().String()
	x.served = make(chan struct{})
	go func() {
		defer close(x.served)
		_ = x.server.Serve(ln)
	}()

	// The fetcher's calls get a mandate minted for the index under the
	// delegation of their context. The index is on loopback: the
	// connection has no transport security.
	sts, err := d.cp.STSClient()
	if err != nil {
		x.stop()
		return nil, err
	}
	target := gateway.GRPCTarget{Resource: indexResource, Authority: x.addr}
	opts := append(gateway.GRPCDialOptions(
		gateway.WithOTelGRPCOptions(otelgrpc.WithTracerProvider(research)),
		gateway.WithGRPCTargets(target),
		gateway.WithMandates(gateway.Mint(mandate.NewMintCache(sts), []string{indexScope}, 0)),
	), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if x.conn, err = grpc.NewClient(x.addr, opts...); err != nil {
		x.stop()
		return nil, err
	}
	return x, nil
}

// serveLookup is the source index: it knows three sources on any topic.
func (x *sourceIndex) serveLookup(ctx context.Context, _ string) *wrapperspb.Int32Value {
	_, span := x.tracer.Start(ctx, "look up sources")
	defer span.End()
	return wrapperspb.Int32(3)
}

// lookup asks the index how many sources it has on topic.
func (x *sourceIndex) lookup(ctx context.Context, topic string) (int, error) {
	out := new(wrapperspb.Int32Value)
	if err := x.conn.Invoke(ctx, lookupMethod, wrapperspb.String(topic), out); err != nil {
		return 0, fmt.Errorf("source index: %w", err)
	}
	return int(out.GetValue()), nil
}

// stop closes the connection and stops the server once its calls are
// done. A gRPC server span ends after the client has its answer: once stop
// returns, every span of the index has ended.
func (x *sourceIndex) stop() {
	if x == nil {
		return
	}
	if x.conn != nil {
		_ = x.conn.Close()
		x.conn = nil
	}
	if x.server != nil {
		x.server.GracefulStop()
		<-x.served
		x.server = nil
	}
}
