// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/propagator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// startRecorder records, for every span started, the envelope of its
// parent context.
type startRecorder struct {
	mu   sync.Mutex
	envs map[trace.SpanKind]baggage.Envelope
}

func (r *startRecorder) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.envs[s.SpanKind()] = baggage.FromContext(ctx)
}
func (*startRecorder) OnEnd(sdktrace.ReadOnlySpan)      {}
func (*startRecorder) Shutdown(context.Context) error   { return nil }
func (*startRecorder) ForceFlush(context.Context) error { return nil }

func (r *startRecorder) get(kind trace.SpanKind) (baggage.Envelope, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.envs[kind]
	return e, ok
}

type fixture struct {
	tp      *sdktrace.TracerProvider
	spans   *tracetest.SpanRecorder
	starts  *startRecorder
	client  *http.Client
	srv     *httptest.Server
	mu      sync.Mutex
	inbound []*http.Request
	seen    []baggage.Envelope
}

func newFixture(t *testing.T, otelOpts ...otelhttp.Option) *fixture {
	t.Helper()
	f := &fixture{spans: tracetest.NewSpanRecorder(), starts: &startRecorder{envs: map[trace.SpanKind]baggage.Envelope{}}}
	f.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(f.starts), sdktrace.WithSpanProcessor(f.spans))
	opts := []gateway.Option{
		gateway.WithPropagators(propagation.TraceContext{}),
		gateway.WithOTelHTTPOptions(append([]otelhttp.Option{otelhttp.WithTracerProvider(f.tp)}, otelOpts...)...),
	}
	f.srv = httptest.NewServer(gateway.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.inbound = append(f.inbound, r)
		f.seen = append(f.seen, baggage.FromContext(r.Context()))
		f.mu.Unlock()
		if tok, ok := propagator.SubjectTokenFromContext(r.Context()); ok {
			io.WriteString(w, "token:"+tok)
		}
	}), "server", opts...))
	f.client = &http.Client{Transport: gateway.NewTransport(nil, opts...)}
	t.Cleanup(func() {
		f.srv.Close()
		f.client.CloseIdleConnections()
		_ = f.tp.Shutdown(context.Background())
	})
	return f
}

func (f *fixture) do(t *testing.T, req *http.Request) string {
	t.Helper()
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

func (f *fixture) last() (*http.Request, baggage.Envelope) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inbound[len(f.inbound)-1], f.seen[len(f.seen)-1]
}

var env = baggage.Envelope{
	AgentSession: "session-research", DelegationEdge: "edge-1", SubjectRecord: "record-1", Hop: 1,
}

func envCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, err := baggage.ContextWithEnvelope(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err = baggage.ContextWithMember(ctx, "tenant", "hooli")
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func TestEnvelopeOverHTTP(t *testing.T) {
	f := newFixture(t)
	ctx, parent := f.tp.Tracer("test").Start(envCtx(t), "caller")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/x", nil)
	f.do(t, req)
	parent.End()

	in, got := f.last()
	if got != env {
		t.Errorf("handler envelope = %+v, want %+v", got, env)
	}
	wantBag := "caracal.agent_session=session-research,caracal.delegation_edge=edge-1,caracal.hop=1," +
		"caracal.session=record-1,tenant=hooli"
	if b := in.Header.Get("baggage"); b != wantBag {
		t.Errorf("baggage header = %q", b)
	}
	if in.Header.Get("Authorization") != "" {
		t.Error("transport set Authorization")
	}
	// The server span started with the envelope in its parent context,
	// and in the caller's trace under the client span.
	if e, ok := f.starts.get(trace.SpanKindServer); !ok || e != env {
		t.Errorf("server span started with %+v (%v)", e, ok)
	}
	var client, server sdktrace.ReadOnlySpan
	for _, s := range f.spans.Ended() {
		switch s.SpanKind() {
		case trace.SpanKindClient:
			client = s
		case trace.SpanKindServer:
			server = s
		}
	}
	if client == nil || server == nil {
		t.Fatalf("spans: %d ended", len(f.spans.Ended()))
	}
	if server.Parent().SpanID() != client.SpanContext().SpanID() ||
		server.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Error("server span is not the client span's child in the caller's trace")
	}
}

func TestRequestWithoutContextHasNoEnvelope(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest(http.MethodGet, f.srv.URL, nil) //nolint:noctx // The point of the test.
	f.do(t, req)
	if in, got := f.last(); !got.IsZero() || in.Header.Get("baggage") != "" {
		t.Errorf("envelope %+v, baggage %q", got, in.Header.Get("baggage"))
	}
}

// TestFilteredRequestsCarryEnvelope: otelhttp filters decide what is
// traced, not what is propagated.
func TestFilteredRequestsCarryEnvelope(t *testing.T) {
	f := newFixture(t, otelhttp.WithFilter(func(*http.Request) bool { return false }))
	req, _ := http.NewRequestWithContext(envCtx(t), http.MethodGet, f.srv.URL, nil)
	f.do(t, req)
	if _, got := f.last(); got != env {
		t.Errorf("filtered request envelope = %+v", got)
	}
	if n := len(f.spans.Ended()); n != 0 {
		t.Errorf("%d spans for filtered requests", n)
	}
}

func TestTransportMergesExistingHeaders(t *testing.T) {
	const existing = "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab-bbbbbbbbbbbbbbbb-01"
	tests := []struct {
		name            string
		traceparent     string
		tracestate      string
		wantTraceparent func(string) bool
		wantTracestate  string
	}{
		{"valid kept", existing, "otel=span",
			func(s string) bool { return s == existing }, "otel=span"},
		{"garbage replaced", "garbage", "",
			func(s string) bool { return strings.HasPrefix(s, "00-") && len(s) == 55 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx, span := f.tp.Tracer("test").Start(envCtx(t), "caller")
			defer span.End()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL, nil)
			req.Header.Set("traceparent", tt.traceparent)
			if tt.tracestate != "" {
				req.Header.Set("tracestate", tt.tracestate)
			}
			req.Header.Set("baggage", "tenant=caller,caracal.hop=9,caracal.parent_edge=stale")
			before := req.Header.Clone()
			f.do(t, req)
			in, got := f.last()
			if tp := in.Header.Get("traceparent"); !tt.wantTraceparent(tp) {
				t.Errorf("traceparent = %q", tp)
			}
			if ts := in.Header.Get("tracestate"); ts != tt.wantTracestate {
				t.Errorf("tracestate = %q", ts)
			}
			wantBag := "caracal.agent_session=session-research,caracal.delegation_edge=edge-1," +
				"caracal.hop=1,caracal.session=record-1,tenant=caller"
			if b := in.Header.Get("baggage"); b != wantBag {
				t.Errorf("baggage = %q", b)
			}
			if got != env {
				t.Errorf("envelope = %+v", got)
			}
			if !equalHeader(before, req.Header) {
				t.Error("transport changed the caller's request")
			}
		})
	}
}

func equalHeader(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\n") != strings.Join(b[k], "\n") {
			return false
		}
	}
	return true
}

// TestHandlerReadsBearer: the handler exposes the bearer as the subject
// token, unverified.
func TestHandlerReadsBearer(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, f.srv.URL, nil)
	req.Header.Set("Authorization", "Bearer abc.def")
	if body := f.do(t, req); body != "token:abc.def" {
		t.Errorf("body = %q", body)
	}
	for _, s := range f.spans.Ended() {
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.Emit(), "abc.def") {
				t.Errorf("token in span attribute %s", kv.Key)
			}
		}
	}
}

// TestNilBase uses http.DefaultTransport.
func TestNilBase(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("baggage"))
	}))
	defer srv.Close()
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	c := &http.Client{Transport: gateway.NewTransport(nil)}
	req, _ := http.NewRequestWithContext(envCtx(t), http.MethodGet, srv.URL, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), "caracal.agent_session=session-research") {
		t.Errorf("baggage = %q", b)
	}
}

// headerEcho serves the request headers back as the response headers'
// X-Echo-* copies.
func headerEcho(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range r.Header {
			w.Header()["X-Echo-"+k] = vs
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func roundTrip(t *testing.T, rt http.RoundTripper, req *http.Request) http.Header {
	t.Helper()
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out := http.Header{}
	for k, vs := range resp.Header {
		if name, ok := strings.CutPrefix(k, "X-Echo-"); ok {
			out[name] = vs
		}
	}
	return out
}

func TestTransportEdgeCases(t *testing.T) {
	srv := headerEcho(t)
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("t").Start(envCtx(t), "caller")
	defer span.End()
	otelOpt := gateway.WithOTelHTTPOptions(otelhttp.WithTracerProvider(tp))
	withBaggage := gateway.WithPropagators(propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}))
	rt := gateway.NewTransport(nil, otelOpt, withBaggage,
		gateway.WithGateway(srv.URL+"/gw", gateway.Binding{Resource: "resource://b", UpstreamPrefix: srv.URL + "/bound"}),
		gateway.WithMandates(gateway.MandateSourceFunc(
			func(context.Context, string) (string, error) { return "mandate", nil })))
	defer http.DefaultTransport.(*http.Transport).CloseIdleConnections()

	t.Run("nil header, gateway-bound", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/bound/x?q=1", nil)
		req.Header = nil
		h := roundTrip(t, rt, req)
		if h.Get("Authorization") != "Bearer mandate" || h.Get(gateway.ResourceHeader) != "resource://b" {
			t.Errorf("headers = %v", h)
		}
		if req.Header != nil {
			t.Error("caller's request changed")
		}
	})
	t.Run("gateway-only hides the envelope from other propagators", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/elsewhere", nil)
		h := roundTrip(t, rt, req)
		if b := h.Get("Baggage"); b != "tenant=hooli" {
			t.Errorf("baggage on a request outside the gateway = %q", b)
		}
		if h.Get("Authorization") != "" {
			t.Error("mandate outside the gateway")
		}
	})
	t.Run("bound request", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/gw/x", nil)
		req.Header.Set(gateway.ResourceHeader, "resource://x")
		h := roundTrip(t, rt, req)
		if h.Get("Authorization") != "Bearer mandate" || !strings.Contains(h.Get("Baggage"), "caracal.agent_session=") {
			t.Errorf("headers = %v", h)
		}
	})
	t.Run("existing tracestate kept without traceparent", func(t *testing.T) {
		ts, err := trace.ParseTraceState("vendor=ctx")
		if err != nil {
			t.Fatal(err)
		}
		sctx := trace.ContextWithSpanContext(ctx, span.SpanContext().WithTraceState(ts))
		req, _ := http.NewRequestWithContext(sctx, http.MethodGet, srv.URL+"/elsewhere", nil)
		req.Header.Set("Tracestate", "otel=span")
		if h := roundTrip(t, rt, req); h.Get("Tracestate") != "otel=span" {
			t.Errorf("tracestate = %q", h.Get("Tracestate"))
		}
	})
	t.Run("stale baggage only: no empty header", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/elsewhere", nil)
		req.Header.Set("Traceparent", "00-0123456789abcdef0123456789abcdef-aabbccddeeff0011-01")
		req.Header.Set("Baggage", "caracal.hop=4")
		if h := roundTrip(t, rt, req); len(h.Values("Baggage")) != 0 {
			t.Errorf("baggage = %q", h.Values("Baggage"))
		}
	})
	t.Run("invalid traceparent replaced", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/elsewhere", nil)
		req.Header.Set("Traceparent", "garbage")
		h := roundTrip(t, rt, req)
		if tp := h.Get("Traceparent"); !strings.HasPrefix(tp, "00-"+span.SpanContext().TraceID().String()) {
			t.Errorf("traceparent = %q", tp)
		}
	})
}
