// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The tool service's API, written out by hand so that the example builds
// without a protobuf compiler. In a .proto file it reads:
//
//	service Tools {
//	  rpc Search(google.protobuf.StringValue) returns (google.protobuf.StringValue);
//	  rpc Sources(google.protobuf.StringValue) returns (stream google.protobuf.StringValue);
//	}
const (
	searchMethod  = "/tools.v1.Tools/Search"
	sourcesMethod = "/tools.v1.Tools/Sources"
)

// toolsServer is what the tool service implements.
type toolsServer interface {
	// Search answers a query.
	Search(ctx context.Context, query string) (string, error)
	// Sources streams the sources of a query to send.
	Sources(ctx context.Context, query string, send func(string) error) error
}

var toolsService = grpc.ServiceDesc{
	ServiceName: "tools.v1.Tools",
	HandlerType: (*toolsServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Search", Handler: searchHandler}},
	Streams: []grpc.StreamDesc{
		{StreamName: "Sources", Handler: sourcesHandler, ServerStreams: true},
	},
}

func searchHandler(
	srv any,
	ctx context.Context,
	dec func(any) error,
	interceptor grpc.UnaryServerInterceptor,
) (any, error) {
	in := new(wrapperspb.StringValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	search := func(ctx context.Context, req any) (any, error) {
		out, err := srv.(toolsServer).Search(ctx, req.(*wrapperspb.StringValue).GetValue())
		if err != nil {
			return nil, err
		}
		return wrapperspb.String(out), nil
	}
	if interceptor == nil {
		return search(ctx, in)
	}
	return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: searchMethod}, search)
}

func sourcesHandler(srv any, stream grpc.ServerStream) error {
	in := new(wrapperspb.StringValue)
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	return srv.(toolsServer).Sources(stream.Context(), in.GetValue(), func(s string) error {
		return stream.SendMsg(wrapperspb.String(s))
	})
}

// toolsClient calls the tool service.
type toolsClient struct{ conn grpc.ClientConnInterface }

func (c toolsClient) Search(ctx context.Context, query string) (string, error) {
	out := new(wrapperspb.StringValue)
	err := c.conn.Invoke(ctx, searchMethod, wrapperspb.String(query), out)
	return out.GetValue(), err
}

func (c toolsClient) Sources(ctx context.Context, query string) ([]string, error) {
	stream, err := c.conn.NewStream(ctx, &toolsService.Streams[0], sourcesMethod)
	if err != nil {
		return nil, err
	}
	// A refused stream fails SendMsg with io.EOF; RecvMsg has the status.
	if err := stream.SendMsg(wrapperspb.String(query)); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	var sources []string
	for {
		out := new(wrapperspb.StringValue)
		err := stream.RecvMsg(out)
		if errors.Is(err, io.EOF) {
			return sources, nil
		}
		if err != nil {
			return nil, err
		}
		sources = append(sources, out.GetValue())
	}
}
