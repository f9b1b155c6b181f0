// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway // import "github.com/otelcaracal/otelcaracal/gateway"

import (
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
)

// The gRPC side of this package mirrors the HTTP side: NewGRPCClientHandler
// and NewGRPCServerHandler are otelgrpc's stats handlers doing what
// NewTransport and NewHandler add to otelhttp, NewGRPCCredentials sends
// the mandate, and GRPCServerOptions and GRPCDialOptions put the pieces
// together.
//
// Both handlers do their work through the propagator they give otelgrpc,
// which otelgrpc calls at the right moment: the client's right after the
// client span starts, the server's before the server span starts. Its
// carrier of the metadata returns only the first value of a key and
// overwrites on Set; the propagators wrap it to read every baggage value.

// ResourceMetadataKey is the gRPC metadata key that names the resource of
// a call to the Gateway: the metadata form of ResourceHeader (Caracal
// protocol §2.5 and §7.1).
const ResourceMetadataKey = "x-caracal-resource"

// GRPCTarget names a gRPC server whose calls carry a mandate for a
// resource (see NewGRPCCredentials).
type GRPCTarget struct {
	// Resource is the resource identifier the mandate is for, such as
	// resource://tools.
	Resource string
	// Authority is the server as the client connection names it: the
	// host and port of its target, or the authority set with
	// grpc.WithAuthority. It is matched without regard to case; port 443
	// may be left out.
	Authority string
	// Service, when not empty, limits the target to one fully qualified
	// service, such as tools.v1.Tools. Empty means every service at
	// Authority.
	Service string
}

// grpcOption is an Option that only the gRPC constructors read. Its
// settings live in grpcConfig rather than in config, which the HTTP
// constructors share and ignore it through.
type grpcOption func(*grpcConfig)

func (grpcOption) apply(*config) {}

// grpcConfig holds the settings of the gRPC constructors: the shared ones
// and those of the gRPC options.
type grpcConfig struct {
	config
	otelgrpc  []otelgrpc.Option
	targets   []GRPCTarget
	plaintext bool
}

func newGRPCConfig(opts []Option) grpcConfig {
	c := grpcConfig{config: newConfig(opts)}
	for _, o := range opts {
		if g, ok := o.(grpcOption); ok {
			g(&c)
		}
	}
	return c
}

// WithOTelGRPCOptions passes options to otelgrpc, such as a tracer
// provider, filter or span attributes. Its propagator option is
// overridden: use WithPropagators. The HTTP constructors ignore it.
func WithOTelGRPCOptions(opts ...otelgrpc.Option) Option {
	return grpcOption(func(c *grpcConfig) {
		c.otelgrpc = append(c.otelgrpc, opts...)
	})
}

// WithGRPCTargets makes NewGRPCCredentials send a mandate on the calls to
// the given targets. A target without a resource or an authority makes
// every call of the credentials fail with the error. The HTTP
// constructors ignore it.
func WithGRPCTargets(targets ...GRPCTarget) Option {
	return grpcOption(func(c *grpcConfig) {
		c.targets = append(c.targets, targets...)
	})
}

// WithUnsafeGRPCPlaintext lets NewGRPCCredentials send mandates over
// connections without transport security to servers that are not on
// loopback. Anyone on the network path can then read the mandate and
// replay it until it expires: use it only where another layer, such as a
// service mesh, protects the traffic.
func WithUnsafeGRPCPlaintext() Option {
	return grpcOption(func(c *grpcConfig) { c.plaintext = true })
}

// GRPCDialOptions returns the dial options of a gRPC client that carries
// the Caracal envelope and, to the configured targets, a mandate:
// grpc.WithStatsHandler(NewGRPCClientHandler(opts...)) and
// grpc.WithPerRPCCredentials(NewGRPCCredentials(opts...)). Transport
// credentials are the caller's to add.
func GRPCDialOptions(opts ...Option) []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithStatsHandler(NewGRPCClientHandler(opts...)),
		grpc.WithPerRPCCredentials(NewGRPCCredentials(opts...)),
	}
}

// GRPCServerOptions returns the server options of a gRPC server that
// reads, and with WithVerifier verifies, the Caracal envelope of every
// call: grpc.StatsHandler(NewGRPCServerHandler(opts...)) and, with
// WithVerifier, the interceptors GRPCUnaryServerInterceptor and
// GRPCStreamServerInterceptor, which refuse the calls whose mandate failed
// verification and end streams whose mandate expired. Without a verifier
// they would have nothing to do and are left out.
//
// Interceptors set with grpc.UnaryInterceptor or grpc.StreamInterceptor
// run before those chained here and see calls before they are refused:
// pass these options first and chain the others after them.
func GRPCServerOptions(opts ...Option) []grpc.ServerOption {
	h := NewGRPCServerHandler(opts...)
	if newGRPCConfig(opts).verifier == nil {
		return []grpc.ServerOption{grpc.StatsHandler(h)}
	}
	return []grpc.ServerOption{
		grpc.StatsHandler(h),
		grpc.ChainUnaryInterceptor(GRPCUnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(GRPCStreamServerInterceptor()),
	}
}
