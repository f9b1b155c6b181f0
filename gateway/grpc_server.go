// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway // import "github.com/otelcaracal/otelcaracal/gateway"

import (
	"context"
	"errors"
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/otelcaracal/otelcaracal/mandate"
)

// NewGRPCServerHandler returns otelgrpc's server stats handler that first
// extracts the trace context and the Caracal envelope of each call's
// metadata into its context. The server span and every span started under
// it see the envelope, and so does the service. Use it with
// grpc.StatsHandler in place of otelgrpc.NewServerHandler and, with
// WithVerifier, together with GRPCUnaryServerInterceptor and
// GRPCStreamServerInterceptor; or use GRPCServerOptions, which sets them
// up.
//
// Every value of the baggage metadata is read, joined as one header and
// checked as one against the W3C limits of 8192 bytes and 64 members
// (Caracal protocol §2.5); otelgrpc alone reads only the first value.
//
// Without WithVerifier, NewGRPCServerHandler checks nothing: the envelope
// comes from unsigned baggage and the bearer token read from the
// authorization metadata is not verified. Span attribution under it is
// "claimed".
//
// With WithVerifier, the bearer mandate of every call is verified before
// the server span starts, as NewHandler does. When it is valid, its claims
// replace the envelope read from baggage, mandate.ClaimsFromContext
// returns them and spans are attributed "verified". When it is not, the
// call keeps the claimed envelope and the interceptors refuse it, inside
// the server span, before the service sees it: with codes.Unauthenticated
// or codes.PermissionDenied, as mandate.StatusCode gives 401 or 403, and
// the status message "<code>: <description>" of the Caracal protocol §6.4
// table, such as "invalid_token: Token validation failed". The message
// never holds the token nor the verification error's text.
//
// The stats handler alone refuses nothing: a stats handler cannot end a
// call. Without the interceptors, a call whose mandate failed is served.
// Options given to otelgrpc with WithOTelGRPCOptions apply; its propagator
// option is overridden: use WithPropagators.
func NewGRPCServerHandler(opts ...Option) stats.Handler {
	c := newGRPCConfig(opts)
	b := &grpcBinder{propagators: c.withCaracal, verify: &extractor{verifier: c.verifier}}
	// The binder is otelgrpc's propagator, given last so that it wins:
	// otelgrpc extracts first thing in TagRPC, whatever its filter
	// decides, before the server span starts, from the copy of the
	// metadata it makes anyway. A stats handler wrapped around otelgrpc's
	// would copy the metadata a second time, the largest cost it had.
	return otelgrpc.NewServerHandler(append(c.otelgrpc, otelgrpc.WithPropagators(b))...)
}

// grpcBinder binds the inbound call: it extracts the trace context and the
// Caracal envelope, verifies the mandate and records the verdict. It is a
// propagator only so that otelgrpc calls it at the right time; it injects
// nothing.
type grpcBinder struct {
	propagators propagation.TextMapPropagator // the others, then Caracal
	verify      *extractor                    // the verification of NewHandler
}

var _ propagation.TextMapPropagator = (*grpcBinder)(nil)

// verdict is what the binder concluded about a call; the interceptors act
// on it.
type verdict struct {
	err error // why the mandate was refused, or nil
}

type verdictKey struct{}

// admitted is the verdict of the calls that are not refused.
var admitted = &verdict{}

// Extract binds the call whose incoming metadata carrier reads.
func (b *grpcBinder) Extract(
	ctx context.Context,
	carrier propagation.TextMapCarrier,
) context.Context {
	ctx = b.propagators.Extract(ctx, incomingCarrier{carrier, ctx})
	v := admitted
	if b.verify.verifier != nil {
		ctx = b.verify.verify(ctx)
		if err, ok := ctx.Value(verifyErrKey{}).(error); ok {
			v = &verdict{err: err}
		}
	}
	return context.WithValue(ctx, verdictKey{}, v)
}

// Inject does nothing: a server handler does not inject.
func (*grpcBinder) Inject(context.Context, propagation.TextMapCarrier) {}

// Fields returns the fields of the propagators the binder extracts with.
func (b *grpcBinder) Fields() []string { return b.propagators.Fields() }

// incomingCarrier is otelgrpc's carrier of the incoming metadata, which
// returns only the first value of a key, made a propagation.ValuesGetter:
// the values come from the metadata of the call's context. The Caracal
// propagator then reads every baggage value as one header and checks them
// together against the W3C limits (Caracal protocol §2.5).
type incomingCarrier struct {
	propagation.TextMapCarrier
	ctx context.Context
}

// Values returns every value of key.
func (c incomingCarrier) Values(key string) []string {
	return metadata.ValueFromIncomingContext(c.ctx, key)
}

// errNoServerHandler refuses calls that reach the interceptors without
// NewGRPCServerHandler having seen them: nothing was verified.
var errNoServerHandler = status.Error(codes.Internal,
	"caracal gateway: gRPC server has no NewGRPCServerHandler")

// admit returns the status error a call is refused with, or nil.
func admit(ctx context.Context) error {
	v, ok := ctx.Value(verdictKey{}).(*verdict)
	switch {
	case !ok:
		return errNoServerHandler
	case v.err != nil:
		return refusal(v.err)
	}
	return nil
}

// GRPCUnaryServerInterceptor returns the interceptor that refuses the
// unary calls whose mandate NewGRPCServerHandler could not verify (see
// there for the status). Calls the handler did not see, because the
// server has no NewGRPCServerHandler, are refused with codes.Internal.
func GRPCUnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(
		ctx context.Context,
		req any,
		_ *grpc.UnaryServerInfo,
		handler grpc.UnaryHandler,
	) (any, error) {
		if err := admit(ctx); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// GRPCStreamServerInterceptor returns the interceptor that refuses the
// streams whose mandate NewGRPCServerHandler could not verify, as
// GRPCUnaryServerInterceptor does for unary calls.
//
// A stream is verified once, when it starts, but its authority does not
// outlive its mandate. A verified stream ends when its mandate stops being
// acceptable: at the exp claim plus mandate.ClockLeeway by the server's
// clock, the instant after which the verifier would refuse the same token
// on a new call. From then on the stream's context is done (its Err is
// context.DeadlineExceeded), every SendMsg and RecvMsg of the service
// fails with codes.Unauthenticated and the message "invalid_token: Token
// validation failed", and when the service returns, whatever it returns,
// the stream ends with that status. A service blocked in RecvMsg on an
// idle stream sees the end at the next message or when it watches its
// context: nothing is received or sent under the expired mandate. The
// client opens a new stream with a fresh mandate. Unverified streams, and
// unary calls, have no such end.
func GRPCStreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(
		srv any,
		ss grpc.ServerStream,
		_ *grpc.StreamServerInfo,
		handler grpc.StreamHandler,
	) error {
		ctx := ss.Context()
		if err := admit(ctx); err != nil {
			return err
		}
		claims, ok := mandate.ClaimsFromContext(ctx)
		if !ok || claims.ExpiresAt == nil {
			return handler(srv, ss)
		}
		end := claims.ExpiresAt.Add(mandate.ClockLeeway)
		ctx, cancel := context.WithDeadlineCause(ctx, end, errMandateEnded)
		defer cancel()
		err := handler(srv, &boundedStream{ServerStream: ss, ctx: ctx})
		if context.Cause(ctx) == errMandateEnded {
			return errStreamExpired
		}
		return err
	}
}

// errMandateEnded is the cause of the end of a stream's context when its
// mandate expires.
var errMandateEnded = errors.New("caracal gateway: the stream's mandate expired")

// errStreamExpired is the status of a stream that outlived its mandate:
// the status of mandate.ErrExpired.
var errStreamExpired = refusal(mandate.ErrExpired)

// boundedStream is a server stream whose context ends, and whose messages
// are refused, once its mandate has expired.
type boundedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *boundedStream) Context() context.Context { return s.ctx }

func (s *boundedStream) ended() bool {
	return s.ctx.Err() != nil && context.Cause(s.ctx) == errMandateEnded
}

func (s *boundedStream) SendMsg(m any) error {
	if s.ended() {
		return errStreamExpired
	}
	return s.ServerStream.SendMsg(m)
}

// RecvMsg refuses a message that arrives after the end too: it was not
// sent under the mandate.
func (s *boundedStream) RecvMsg(m any) error {
	if s.ended() {
		return errStreamExpired
	}
	err := s.ServerStream.RecvMsg(m)
	if err == nil && s.ended() {
		return errStreamExpired
	}
	return err
}

// refusal returns the status error of a call refused for err: the code of
// mandate.StatusCode's class and the message "<code>: <description>" of
// the Caracal protocol §6.4 table, built from constants only.
func refusal(err error) error {
	c := codes.Unauthenticated
	if mandate.StatusCode(err) == http.StatusForbidden {
		c = codes.PermissionDenied
	}
	return status.Error(c, mandate.ErrorCode(err)+": "+mandate.ErrorDescription(err))
}
