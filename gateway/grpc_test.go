// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel"
	otelbaggage "go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/caracaltest"
	"github.com/otelcaracal/otelcaracal/exporter"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/mandate"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// observed is what the context of one call held when the service ran.
type observed struct {
	env      baggage.Envelope
	members  map[string]string // third-party baggage
	claims   *mandate.Claims
	span     trace.SpanContext
	baggage  []string // the raw baggage metadata values
	deadline time.Time
	ended    error // the stream context's Err when the service returned
}

func observe(ctx context.Context) observed {
	o := observed{env: baggage.FromContext(ctx), span: trace.SpanContextFromContext(ctx)}
	o.claims, _ = mandate.ClaimsFromContext(ctx)
	o.deadline, _ = ctx.Deadline()
	md, _ := metadata.FromIncomingContext(ctx)
	o.baggage = md.Get("baggage")
	for _, m := range otelbaggage.FromContext(ctx).Members() {
		if !baggage.IsReserved(m.Key()) {
			if o.members == nil {
				o.members = map[string]string{}
			}
			o.members[m.Key()] = m.Value()
		}
	}
	return o
}

// toolService is the gRPC service of the tests. It answers with the agent
// session of the call's envelope and records what each call's context
// held.
type toolService struct {
	testgrpc.UnimplementedTestServiceServer
	mu    sync.Mutex
	calls []observed
}

func (s *toolService) add(o observed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, o)
}

func (s *toolService) seen() []observed {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]observed(nil), s.calls...)
}

func (s *toolService) UnaryCall(
	ctx context.Context,
	_ *testgrpc.SimpleRequest,
) (*testgrpc.SimpleResponse, error) {
	o := observe(ctx)
	s.add(o)
	return &testgrpc.SimpleResponse{Username: o.env.AgentSession}, nil
}

// FullDuplexCall answers every message with the session, until the client
// closes its side or a message fails.
func (s *toolService) FullDuplexCall(
	stream grpc.BidiStreamingServer[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse],
) error {
	o := observe(stream.Context())
	defer func() {
		o.ended = stream.Context().Err()
		s.add(o)
	}()
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		resp := &testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: []byte(o.env.AgentSession)}}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// grpcWorld is a control plane, a session holding a delegation for the
// tool, and the tool's gRPC service on loopback.
type grpcWorld struct {
	cp    *caracaltest.Server
	spans *tracetest.SpanRecorder
	tp    *sdktrace.TracerProvider
	svc   *toolService
	addr  string
	child string
	edge  string
	mu    sync.Mutex
	texts []string // client errors and otel errors, checked for tokens
}

func newGRPCWorld(t *testing.T) *grpcWorld {
	t.Helper()
	w := &grpcWorld{cp: caracaltest.NewServer(), spans: tracetest.NewSpanRecorder(), svc: &toolService{}}
	w.tp = sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(exporter.NewSpanProcessor()), sdktrace.WithSpanProcessor(w.spans))
	w.cp.AddResource(toolResource, "", "tools:read")
	root, err := w.cp.NewSession("")
	if err != nil {
		t.Fatal(err)
	}
	if w.child, err = w.cp.NewSession(root); err != nil {
		t.Fatal(err)
	}
	w.edge, err = w.cp.NewDelegation(caracaltest.Delegation{
		Source: root, Target: w.child, Resource: toolResource, Scopes: []string{"tools:read"},
	})
	if err != nil {
		t.Fatal(err)
	}
	prev := otel.GetErrorHandler()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { w.note(err) }))
	t.Cleanup(func() {
		otel.SetErrorHandler(prev)
		w.cp.Close()
		_ = w.tp.Shutdown(context.Background())
		w.checkNoTokenLeak(t)
	})
	return w
}

func (w *grpcWorld) note(err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.texts = append(w.texts, err.Error())
	if s, ok := status.FromError(err); ok {
		w.texts = append(w.texts, s.Message())
	}
}

// gatewayVerifier returns a verifier for the delegated mandates the STS
// mints for the tool: use=gateway, for the issuer, targeting the tool.
func (w *grpcWorld) gatewayVerifier(t *testing.T, opts ...mandate.VerifierOption) gateway.Verifier {
	t.Helper()
	v, err := w.cp.Verifier(w.cp.Issuer(), append([]mandate.VerifierOption{
		mandate.WithAllowedUses(mandate.UseGateway), mandate.WithRequiredTargets(toolResource),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mint returns the mandate source of the agent: a one-shot delegated
// mandate for each call.
func (w *grpcWorld) mint(t *testing.T) gateway.MandateSource {
	t.Helper()
	sts, err := w.cp.STSClient()
	if err != nil {
		t.Fatal(err)
	}
	return gateway.Mint(mandate.NewMintCache(sts), []string{"tools:read"}, 0)
}

// serve starts the tool's gRPC server on a loopback port with opts.
func (w *grpcWorld) serve(t *testing.T, opts ...grpc.ServerOption) {
	t.Helper()
	srv := grpc.NewServer(opts...)
	testgrpc.RegisterTestServiceServer(srv, w.svc)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
}

// serveCaracal starts the server with GRPCServerOptions.
func (w *grpcWorld) serveCaracal(t *testing.T, opts ...gateway.Option) {
	t.Helper()
	opts = append([]gateway.Option{gateway.WithOTelGRPCOptions(otelgrpc.WithTracerProvider(w.tp))}, opts...)
	w.serve(t, gateway.GRPCServerOptions(opts...)...)
}

// dial returns a client of the tool with opts and insecure transport
// credentials (the server is on loopback).
func (w *grpcWorld) dial(t *testing.T, opts ...grpc.DialOption) testgrpc.TestServiceClient {
	t.Helper()
	opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	conn, err := grpc.NewClient(w.addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return testgrpc.NewTestServiceClient(conn)
}

// dialCaracal returns a client with GRPCDialOptions that mints a mandate
// for the tool.
func (w *grpcWorld) dialCaracal(t *testing.T, opts ...gateway.Option) testgrpc.TestServiceClient {
	t.Helper()
	opts = append([]gateway.Option{
		gateway.WithOTelGRPCOptions(otelgrpc.WithTracerProvider(w.tp)),
		gateway.WithGRPCTargets(gateway.GRPCTarget{Resource: toolResource, Authority: w.addr}),
		gateway.WithMandates(w.mint(t)),
	}, opts...)
	return w.dial(t, gateway.GRPCDialOptions(opts...)...)
}

// ctx returns a context acting as the child under the delegation, with a
// third-party member, inside a caller span.
func (w *grpcWorld) ctx(t *testing.T) (context.Context, trace.SpanContext) {
	t.Helper()
	ctx, err := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{
		AgentSession: w.child, DelegationEdge: w.edge, Hop: 1,
	})
	if err == nil {
		ctx, err = baggage.ContextWithMember(ctx, "tenant", "hooli")
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := w.tp.Tracer("test").Start(ctx, "caller")
	t.Cleanup(func() { span.End() })
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	t.Cleanup(cancel)
	return ctx, span.SpanContext()
}

// callKind is a unary or a streaming call of the tool.
type callKind struct {
	name string
	call func(ctx context.Context, c testgrpc.TestServiceClient) (string, error)
}

var callKinds = []callKind{
	{"unary", func(ctx context.Context, c testgrpc.TestServiceClient) (string, error) {
		resp, err := c.UnaryCall(ctx, &testgrpc.SimpleRequest{})
		if err != nil {
			return "", err
		}
		return resp.GetUsername(), nil
	}},
	{"stream", func(ctx context.Context, c testgrpc.TestServiceClient) (string, error) {
		stream, err := c.FullDuplexCall(ctx)
		if err != nil {
			return "", err
		}
		// A Send on a stream the server ended fails with io.EOF; Recv
		// returns the status.
		if err := stream.Send(&testgrpc.StreamingOutputCallRequest{}); err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		resp, err := stream.Recv()
		if err != nil {
			return "", err
		}
		if err := stream.CloseSend(); err != nil {
			return "", err
		}
		if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
			return "", err
		}
		return string(resp.GetPayload().GetBody()), nil
	}},
}

// call makes one call of kind, noting its error.
func (w *grpcWorld) call(
	ctx context.Context,
	kind callKind,
	c testgrpc.TestServiceClient,
) (string, error) {
	out, err := kind.call(ctx, c)
	w.note(err)
	return out, err
}

// span returns the only ended span of kind. The server span may end
// after the client has its answer: span waits for it for a while.
func (w *grpcWorld) span(t *testing.T, kind trace.SpanKind) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		found = found[:0]
		for _, s := range w.spans.Ended() {
			if s.SpanKind() == kind {
				found = append(found, s)
			}
		}
		if len(found) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans of kind %s, want 1", len(found), kind)
	}
	return found[0]
}

// TestGRPCEnvelopeArrives: over a loopback server, the envelope, the trace
// and the verified attribution arrive on unary and streaming calls.
func TestGRPCEnvelopeArrives(t *testing.T) {
	for _, kind := range callKinds {
		t.Run(kind.name, func(t *testing.T) {
			w := newGRPCWorld(t)
			w.serveCaracal(t, gateway.WithVerifier(w.gatewayVerifier(t)))
			client := w.dialCaracal(t)
			ctx, caller := w.ctx(t)

			got, err := w.call(ctx, kind, client)
			if err != nil {
				t.Fatal(err)
			}
			if got != w.child {
				t.Errorf("service answered for session %q, want %q", got, w.child)
			}
			seen := w.svc.seen()
			if len(seen) != 1 {
				t.Fatalf("%d calls seen", len(seen))
			}
			o := seen[0]
			if o.claims == nil {
				t.Fatal("service has no verified claims")
			}
			if want := o.claims.Envelope(); o.env != want || o.env.DelegationEdge != w.edge || o.env.Hop != 1 {
				t.Errorf("envelope %+v, want %+v under %s at hop 1", o.env, want, w.edge)
			}
			if o.members["tenant"] != "hooli" {
				t.Errorf("third-party baggage %v", o.members)
			}
			if o.span.TraceID() != caller.TraceID() {
				t.Errorf("trace %s, want %s", o.span.TraceID(), caller.TraceID())
			}

			server, clientSpan := w.span(t, trace.SpanKindServer), w.span(t, trace.SpanKindClient)
			if server.Parent().SpanID() != clientSpan.SpanContext().SpanID() {
				t.Error("server span is not a child of the client span")
			}
			for _, c := range []struct {
				span        sdktrace.ReadOnlySpan
				attribution string
			}{{server, exporter.AttributionVerified}, {clientSpan, exporter.AttributionClaimed}} {
				a := attrs(c.span)
				if v, _ := a.Value(exporter.AttributionKey); v.AsString() != c.attribution {
					t.Errorf("%s span attribution %q, want %q", c.span.SpanKind(), v.AsString(), c.attribution)
				}
				if v, _ := a.Value(exporter.DelegationKey); v.AsString() != w.edge {
					t.Errorf("%s span delegation %q", c.span.SpanKind(), v.AsString())
				}
			}
			if v, _ := attrs(server).Value(exporter.ZoneKey); v.AsString() != w.cp.ZoneID {
				t.Errorf("server span zone %q", v.AsString())
			}
		})
	}
}

// TestGRPCRepeatedBaggage: every baggage metadata value is read, and the
// values count together against the W3C limits.
func TestGRPCRepeatedBaggage(t *testing.T) {
	members := func(prefix string, n int) string {
		ms := make([]string, n)
		for i := range ms {
			ms[i] = prefix + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "=1"
		}
		return strings.Join(ms, ",")
	}
	for _, tc := range []struct {
		name    string
		values  []string
		env     baggage.Envelope
		members map[string]string
	}{
		{
			name:    "two values",
			values:  []string{"a=1", "b=2"},
			members: map[string]string{"a": "1", "b": "2"},
		},
		{
			name:    "envelope and third party in separate values",
			values:  []string{"caracal.agent_session=s-1,caracal.hop=2", "tenant=acme"},
			env:     baggage.Envelope{AgentSession: "s-1", Hop: 2},
			members: map[string]string{"tenant": "acme"},
		},
		{
			name:    "later value wins a key",
			values:  []string{"a=1", "a=2"},
			members: map[string]string{"a": "2"},
		},
		{
			name:   "bytes over the limit together",
			values: []string{"a=" + strings.Repeat("x", 4500), "b=" + strings.Repeat("y", 4500)},
		},
		{
			name:   "members over the limit together",
			values: []string{members("m", 40), members("n", 40)},
		},
		{
			name:    "members within the limit together",
			values:  []string{members("m", 32), members("n", 32)},
			members: map[string]string{"maa": "1", "nfb": "1"},
		},
	} {
		for _, kind := range callKinds {
			t.Run(tc.name+"/"+kind.name, func(t *testing.T) {
				w := newGRPCWorld(t)
				w.serveCaracal(t)
				client := w.dial(t) // plain gRPC: the values go as they are
				var pairs []string
				for _, v := range tc.values {
					pairs = append(pairs, "baggage", v)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				ctx = metadata.AppendToOutgoingContext(ctx, pairs...)
				if _, err := w.call(ctx, kind, client); err != nil {
					t.Fatal(err)
				}
				o := w.svc.seen()[0]
				if len(o.baggage) != len(tc.values) {
					t.Fatalf("%d baggage values arrived, want %d", len(o.baggage), len(tc.values))
				}
				if o.env != tc.env {
					t.Errorf("envelope %+v, want %+v", o.env, tc.env)
				}
				for k, v := range tc.members {
					if o.members[k] != v {
						t.Errorf("member %s = %q, want %q", k, o.members[k], v)
					}
				}
				if tc.members == nil && len(o.members) > 0 {
					t.Errorf("members %v, want none", o.members)
				}
			})
		}
	}
}

// TestGRPCClientMergesBaggage: baggage metadata the application set, every
// value of it, is merged with the context's, not overwritten.
func TestGRPCClientMergesBaggage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		bare    bool // a context without baggage
		values  []string
		members map[string]string
	}{
		{
			name:    "no application baggage",
			members: map[string]string{"tenant": "hooli"},
		},
		{
			name:   "nothing left to send",
			bare:   true,
			values: []string{"caracal.agent_session=stale", "caracal.hop=3"},
		},
		{
			name:    "two application values",
			values:  []string{"a=1", "b=2"},
			members: map[string]string{"a": "1", "b": "2", "tenant": "hooli"},
		},
		{
			name:    "application member wins, stale envelope dropped",
			values:  []string{"tenant=acme,caracal.delegation_edge=stale", "caracal.hop=9"},
			members: map[string]string{"tenant": "acme"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newGRPCWorld(t)
			w.serveCaracal(t)
			client := w.dial(t, grpc.WithStatsHandler(gateway.NewGRPCClientHandler(
				gateway.WithOTelGRPCOptions(otelgrpc.WithTracerProvider(w.tp)))))
			ctx, caller := w.ctx(t)
			want := baggage.Envelope{AgentSession: w.child, DelegationEdge: w.edge, Hop: 1}
			if tc.bare {
				ctx, want = otelbaggage.ContextWithoutBaggage(ctx), baggage.Envelope{}
			}
			for _, v := range tc.values {
				ctx = metadata.AppendToOutgoingContext(ctx, "baggage", v)
			}
			if _, err := w.call(ctx, callKinds[0], client); err != nil {
				t.Fatal(err)
			}
			o := w.svc.seen()[0]
			switch {
			case tc.bare && strings.Join(o.baggage, "") != "":
				t.Errorf("baggage sent: %q", o.baggage)
			case !tc.bare && len(o.baggage) != 1:
				t.Errorf("baggage sent as %d values, want 1: %q", len(o.baggage), o.baggage)
			}
			if o.env != want {
				t.Errorf("envelope %+v, want %+v", o.env, want)
			}
			if len(o.members) != len(tc.members) {
				t.Errorf("members %v, want %v", o.members, tc.members)
			}
			for k, v := range tc.members {
				if o.members[k] != v {
					t.Errorf("member %s = %q, want %q", k, o.members[k], v)
				}
			}
			if o.span.TraceID() != caller.TraceID() {
				t.Error("trace context lost")
			}
		})
	}
}

// TestGRPCOtelgrpcClient: otelgrpc's own client handler carries the
// envelope when the Caracal propagator is set, globally or as its option.
func TestGRPCOtelgrpcClient(t *testing.T) {
	for _, tc := range []struct {
		name   string
		global bool
		opts   []otelgrpc.Option
	}{
		{name: "WithPropagators", opts: []otelgrpc.Option{otelgrpc.WithPropagators(propagator.New())}},
		{name: "global propagator", global: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.global {
				prev := otel.GetTextMapPropagator()
				otel.SetTextMapPropagator(propagator.New())
				t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
			}
			w := newGRPCWorld(t)
			w.serveCaracal(t)
			opts := append([]otelgrpc.Option{otelgrpc.WithTracerProvider(w.tp)}, tc.opts...)
			client := w.dial(t, grpc.WithStatsHandler(otelgrpc.NewClientHandler(opts...)))
			ctx, caller := w.ctx(t)
			if _, err := w.call(ctx, callKinds[1], client); err != nil {
				t.Fatal(err)
			}
			o := w.svc.seen()[0]
			want := baggage.Envelope{AgentSession: w.child, DelegationEdge: w.edge, Hop: 1}
			if o.env != want || o.members["tenant"] != "hooli" {
				t.Errorf("envelope %+v and members %v, want %+v and tenant", o.env, o.members, want)
			}
			if o.span.TraceID() != caller.TraceID() {
				t.Error("trace context lost")
			}
		})
	}
}

// TestGRPCRefusals: a call whose mandate fails verification is refused
// with the status of its §6.4 class, before the service sees it, and the
// status message is the code and description only.
func TestGRPCRefusals(t *testing.T) {
	for _, tc := range []struct {
		name     string
		verifier []mandate.VerifierOption
		// mandates returns the client's mandate source; nil sends none.
		mandates func(w *grpcWorld, t *testing.T) gateway.MandateSource
		code     codes.Code
		message  string
	}{
		{
			name:    "no mandate",
			code:    codes.Unauthenticated,
			message: "missing_token: Missing bearer token",
		},
		{
			name: "tampered mandate",
			mandates: func(w *grpcWorld, t *testing.T) gateway.MandateSource {
				mint := w.mint(t)
				return gateway.MandateSourceFunc(func(ctx context.Context, res string) (string, error) {
					tok, err := mint.Mandate(ctx, res)
					return tok[:len(tok)-4] + "AAAA", err
				})
			},
			code:    codes.Unauthenticated,
			message: "invalid_token: Token validation failed",
		},
		{
			name:     "missing scope",
			verifier: []mandate.VerifierOption{mandate.WithRequiredScopes("tools:admin")},
			mandates: (*grpcWorld).mint,
			code:     codes.PermissionDenied,
			message:  "insufficient_scope: Required scope is missing",
		},
		{
			name:     "hop count exceeded",
			verifier: []mandate.VerifierOption{mandate.WithMaxHopCount(0)},
			mandates: (*grpcWorld).mint,
			code:     codes.PermissionDenied,
			message:  "hop_count_exceeded: Hop count exceeded",
		},
		{
			name: "revoked delegation",
			mandates: func(w *grpcWorld, t *testing.T) gateway.MandateSource {
				mint := w.mint(t)
				return gateway.MandateSourceFunc(func(ctx context.Context, res string) (string, error) {
					tok, err := mint.Mandate(ctx, res)
					w.cp.Revoke(w.edge)
					return tok, err
				})
			},
			code:    codes.Unauthenticated,
			message: "session_revoked: Session revoked",
		},
	} {
		for _, kind := range callKinds {
			t.Run(tc.name+"/"+kind.name, func(t *testing.T) {
				w := newGRPCWorld(t)
				w.serveCaracal(t, gateway.WithVerifier(w.gatewayVerifier(t, tc.verifier...)))
				var client testgrpc.TestServiceClient
				if tc.mandates == nil {
					client = w.dial(t, gateway.GRPCDialOptions(
						gateway.WithOTelGRPCOptions(otelgrpc.WithTracerProvider(w.tp)))...)
				} else {
					client = w.dialCaracal(t, gateway.WithMandates(tc.mandates(w, t)))
				}
				ctx, _ := w.ctx(t)
				_, err := w.call(ctx, kind, client)
				s, _ := status.FromError(err)
				if s.Code() != tc.code || s.Message() != tc.message {
					t.Errorf("status %s %q, want %s %q", s.Code(), s.Message(), tc.code, tc.message)
				}
				if n := len(w.svc.seen()); n != 0 {
					t.Errorf("service reached %d times", n)
				}
				server := w.span(t, trace.SpanKindServer)
				if v, _ := attrs(server).Value(exporter.AttributionKey); v.AsString() != exporter.AttributionClaimed {
					t.Errorf("refused call's server span attribution %q, want claimed", v.AsString())
				}
			})
		}
	}
}

// TestGRPCStreamOutlivesMandate: a stream verified at its start ends with
// codes.Unauthenticated when its mandate expires (exp plus the clock
// leeway); the service's context ends then, and the same mandate is
// refused on a new call.
func TestGRPCStreamOutlivesMandate(t *testing.T) {
	w := newGRPCWorld(t)
	// A mandate that expired 57 s ago is still accepted within the 60 s
	// leeway: its stream ends within three seconds. The verifier's clock is
	// first set one minute back, so that the test does not depend on the
	// leeway to admit the stream, then moved to the present.
	var (
		mu     sync.Mutex
		offset = -time.Minute
	)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(offset)
	}
	v, err := w.cp.Verifier(toolResource, mandate.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	w.serveCaracal(t, gateway.WithVerifier(v))
	var tok string
	client := w.dialCaracal(t, gateway.WithMandates(gateway.MandateSourceFunc(
		func(context.Context, string) (string, error) { return tok, nil })))
	ctx, _ := w.ctx(t)

	exp := time.Now().Add(-57 * time.Second).Truncate(time.Second)
	end := exp.Add(mandate.ClockLeeway) // two to three seconds from now
	tok, err = w.cp.Sign(mandate.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt: jwt.NewNumericDate(exp.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(exp),
		},
		AgentSessionID: w.child, DelegationEdgeID: w.edge, Target: []string{toolResource},
		DelegationPath: []string{w.edge}, HopCount: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := client.FullDuplexCall(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&testgrpc.StreamingOutputCallRequest{}); err != nil {
		t.Fatal(err)
	}
	if resp, err := stream.Recv(); err != nil || string(resp.GetPayload().GetBody()) != w.child {
		t.Fatalf("first message: %v", err)
	}

	time.Sleep(time.Until(end) + 100*time.Millisecond)
	mu.Lock()
	offset = 0
	mu.Unlock()
	// Sent after the end: refused, and the stream ends.
	_ = stream.Send(&testgrpc.StreamingOutputCallRequest{})
	_, err = stream.Recv()
	w.note(err)
	if s, _ := status.FromError(err); s.Code() != codes.Unauthenticated ||
		s.Message() != "invalid_token: Token validation failed" {
		t.Errorf("stream after its mandate: %v", err)
	}
	seen := w.svc.seen()
	if len(seen) != 1 {
		t.Fatalf("%d streams seen", len(seen))
	}
	if o := seen[0]; !o.deadline.Equal(end) || !errors.Is(o.ended, context.DeadlineExceeded) {
		t.Errorf("service context deadline %v, ended %v; want %v, deadline exceeded", o.deadline, o.ended, end)
	}
	// A new call with the same mandate is refused by the verifier.
	_, err = w.call(ctx, callKinds[0], client)
	if s, _ := status.FromError(err); s.Code() != codes.Unauthenticated {
		t.Errorf("new call after the mandate: %v", err)
	}
}

// TestGRPCInterceptorsNeedHandler: without NewGRPCServerHandler nothing is
// verified, and the interceptors refuse every call.
func TestGRPCInterceptorsNeedHandler(t *testing.T) {
	for _, kind := range callKinds {
		t.Run(kind.name, func(t *testing.T) {
			w := newGRPCWorld(t)
			w.serve(t,
				grpc.ChainUnaryInterceptor(gateway.GRPCUnaryServerInterceptor()),
				grpc.ChainStreamInterceptor(gateway.GRPCStreamServerInterceptor()))
			client := w.dialCaracal(t)
			ctx, _ := w.ctx(t)
			_, err := w.call(ctx, kind, client)
			if status.Code(err) != codes.Internal {
				t.Errorf("got %v, want Internal", err)
			}
			if n := len(w.svc.seen()); n != 0 {
				t.Errorf("service reached %d times", n)
			}
		})
	}
}

// TestGRPCWithoutVerifier: the server handler alone binds the claimed
// envelope and the bearer token, unverified, and gives streams no end.
func TestGRPCWithoutVerifier(t *testing.T) {
	w := newGRPCWorld(t)
	w.serveCaracal(t, gateway.WithPropagators(propagation.TraceContext{}))
	client := w.dialCaracal(t)
	ctx, _ := w.ctx(t)
	if _, err := w.call(ctx, callKinds[1], client); err != nil {
		t.Fatal(err)
	}
	o := w.svc.seen()[0]
	// The only deadline is the client's, about 10 s away.
	if o.claims != nil || o.deadline.Before(time.Now().Add(5*time.Second)) {
		t.Errorf("claims %v, deadline %v: want no claims and the client's deadline", o.claims, o.deadline)
	}
	if o.env.AgentSession != w.child {
		t.Errorf("envelope %+v", o.env)
	}
	if v, _ := attrs(w.span(t, trace.SpanKindServer)).Value(exporter.AttributionKey); v.AsString() != "claimed" {
		t.Errorf("attribution %q", v.AsString())
	}
}

// checkNoTokenLeak fails if a token the control plane issued, or any of
// its segments, appears in a span attribute, event or status, or in an
// error or status message a client or otel.Handle received.
func (w *grpcWorld) checkNoTokenLeak(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	assertNoTokens(t, w.spans.Ended(), w.texts, w.cp.IssuedTokens())
}
