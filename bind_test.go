// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	otelbaggage "go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal"
	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/mandate"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// verifierFunc adapts a function to gateway.Verifier.
type verifierFunc func(ctx context.Context, token string) (*mandate.Claims, error)

func (f verifierFunc) Verify(ctx context.Context, token string) (*mandate.Claims, error) {
	return f(ctx, token)
}

func returning(c *mandate.Claims, err error) verifierFunc {
	return func(context.Context, string) (*mandate.Claims, error) { return c, err }
}

var errRefused = errors.New("refused by the verifier")

// inbound returns the request of Caracal protocol §10.10.
func inbound(bearer, bag string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/tasks", nil)
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	if bag != "" {
		r.Header.Set("Baggage", bag)
	}
	r.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	return r
}

const claimedBaggage = "caracal.agent_session=envelope-session,caracal.hop=1,tenant=hooli"

// TestBindFromRequest is the binding table of Caracal protocol §10.10.
func TestBindFromRequest(t *testing.T) {
	proved := &mandate.Claims{
		ZoneID: "proved-zone", ClientID: "proved-app", AgentSessionID: "proved-session",
		DelegationEdgeID: "proved-edge", DelegationPath: []string{"proved-parent", "proved-edge"},
		SID: "proved-subject", HopCount: 4,
	}
	tests := []struct {
		name    string
		req     *http.Request
		opts    otelcaracal.BindOptions
		is      error // the error it fails with; nil binds
		env     baggage.Envelope
		bearer  string // Authorization Headers gives
		claims  bool   // verified claims in the context
		tenant  bool   // third-party baggage kept
		tracing bool   // the request's trace is the context's
	}{
		{name: "verified", req: inbound("inbound", claimedBaggage),
			opts: otelcaracal.BindOptions{Verifier: returning(proved, nil)},
			env: baggage.Envelope{AgentSession: "proved-session", DelegationEdge: "proved-edge",
				ParentEdge: "proved-parent", SubjectRecord: "proved-subject", Hop: 4},
			bearer: "inbound", claims: true, tenant: true, tracing: true},
		{name: "verified, empty projection wins over baggage", req: inbound("inbound", claimedBaggage),
			opts:   otelcaracal.BindOptions{Verifier: returning(&mandate.Claims{ZoneID: "z", ClientID: "a"}, nil)},
			bearer: "inbound", claims: true, tenant: true, tracing: true},
		{name: "verifier returns nothing", req: inbound("inbound", claimedBaggage),
			opts: otelcaracal.BindOptions{Verifier: returning(nil, nil)}, is: otelcaracal.ErrVerification},
		{name: "verifier returns hop 11", req: inbound("inbound", claimedBaggage),
			opts: otelcaracal.BindOptions{Verifier: returning(&mandate.Claims{ZoneID: "z", ClientID: "a",
				HopCount: 11}, nil)}, is: otelcaracal.ErrVerification},
		{name: "verifier returns no zone", req: inbound("inbound", claimedBaggage),
			opts: otelcaracal.BindOptions{Verifier: returning(&mandate.Claims{ClientID: "a"}, nil)},
			is:   otelcaracal.ErrVerification},
		{name: "verifier refuses", req: inbound("inbound", claimedBaggage),
			opts: otelcaracal.BindOptions{Verifier: returning(nil, errRefused)}, is: errRefused},
		{name: "no bearer", req: inbound("", claimedBaggage), is: mandate.ErrMissingToken},
		{name: "no bearer, verifier", req: inbound("", claimedBaggage),
			opts: otelcaracal.BindOptions{Verifier: returning(proved, nil)}, is: mandate.ErrMissingToken},
		{name: "no bearer, as application",
			req: inbound("", "caracal.agent_session=forged,caracal.delegation_edge=forged-edge,"+
				"caracal.hop=9,tenant=hooli"),
			opts: otelcaracal.BindOptions{AsApplication: true}, bearer: stubToken, tenant: true, tracing: true},
		{name: "propagation only", req: inbound("inbound", claimedBaggage),
			env:    baggage.Envelope{AgentSession: "envelope-session", Hop: 1},
			bearer: "inbound", tenant: true, tracing: true},
		{name: "verifier and trusted propagation", req: inbound("inbound", claimedBaggage),
			opts: otelcaracal.BindOptions{Verifier: returning(proved, nil), UnsafeTrustedPropagation: true},
			is:   otelcaracal.ErrConfig},
	}
	s := newStub(t, func(http.ResponseWriter, *http.Request) {})
	c := s.client(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, err := c.BindFromRequest(tt.req, tt.opts)
			if tt.is != nil {
				if !errors.Is(err, tt.is) {
					t.Fatalf("error %v, want %v", err, tt.is)
				}
				noSecrets(t, err.Error(), "inbound")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if env := baggage.FromContext(ctx); env != tt.env {
				t.Errorf("envelope %+v, want %+v", env, tt.env)
			}
			h, err := c.Headers(ctx, otelcaracal.CallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := h.Get("Authorization"); got != "Bearer "+tt.bearer {
				t.Errorf("Authorization %q, want bearer %q", got, tt.bearer)
			}
			if _, ok := mandate.ClaimsFromContext(ctx); ok != tt.claims {
				t.Errorf("verified claims in context: %v", ok)
			}
			if got := otelbaggage.FromContext(ctx).Member("tenant").Value() == "hooli"; got != tt.tenant {
				t.Errorf("third-party baggage kept: %v", got)
			}
			tid := trace.SpanContextFromContext(ctx).TraceID().String()
			if got := tid == "4bf92f3577b34da6a3ce929d0e0e4736"; got != tt.tracing {
				t.Errorf("trace %s", tid)
			}
		})
	}
}

// TestBindKeepsServerSpan checks that a span already in the request's
// context, such as otelhttp's server span, stays the parent.
func TestBindKeepsServerSpan(t *testing.T) {
	s := newStub(t, func(http.ResponseWriter, *http.Request) {})
	c := s.client(t)
	tid, _ := trace.TraceIDFromHex("0123456789abcdef0123456789abcdef")
	sid, _ := trace.SpanIDFromHex("0123456789abcdef")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid})
	r := inbound("inbound", claimedBaggage)
	r = r.WithContext(trace.ContextWithSpanContext(r.Context(), sc))
	ctx, err := c.BindFromRequest(r, otelcaracal.BindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !trace.SpanContextFromContext(ctx).Equal(sc) {
		t.Errorf("span %v, want %v", trace.SpanContextFromContext(ctx), sc)
	}
}

// TestBindProduction is the production guard of Caracal protocol §3
// step 3.
func TestBindProduction(t *testing.T) {
	s := newStub(t, func(http.ResponseWriter, *http.Request) {})
	clearEnv(t)
	t.Setenv("CARACAL_ENV", "production")
	c, err := otelcaracal.FromClientSecret("z", "app", stubSecret, s.options()...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts otelcaracal.BindOptions
		is   error
	}{
		{"no verifier", otelcaracal.BindOptions{}, otelcaracal.ErrProductionIngress},
		{"trusted propagation", otelcaracal.BindOptions{UnsafeTrustedPropagation: true}, nil},
		{"verifier", otelcaracal.BindOptions{Verifier: returning(&mandate.Claims{ZoneID: "z", ClientID: "a"}, nil)},
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.BindFromRequest(inbound("inbound", claimedBaggage), tt.opts); !errors.Is(err, tt.is) {
				t.Errorf("error %v, want %v", err, tt.is)
			}
		})
	}
}

func TestMiddleware(t *testing.T) {
	s := newStub(t, func(http.ResponseWriter, *http.Request) {})
	c := s.client(t)
	var seen baggage.Envelope
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = baggage.FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}), otelcaracal.BindOptions{})

	w := httptest.NewRecorder()
	h.ServeHTTP(w, inbound("inbound", claimedBaggage))
	if w.Code != http.StatusNoContent || seen.AgentSession != "envelope-session" {
		t.Errorf("bound request: %d, envelope %+v", w.Code, seen)
	}

	seen = baggage.Envelope{}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, inbound("", claimedBaggage))
	body, _ := io.ReadAll(w.Body)
	if w.Code != http.StatusUnauthorized || string(body) != "invalid or missing authorization\n" || !seen.IsZero() {
		t.Errorf("refused request: %d %q, handler saw %+v", w.Code, body, seen)
	}

	defer func() {
		if recover() == nil {
			t.Error("a verifier with trusted propagation did not panic")
		}
	}()
	c.Middleware(h, otelcaracal.BindOptions{Verifier: returning(nil, nil), UnsafeTrustedPropagation: true})
}

func TestHeaders(t *testing.T) {
	s := newStub(t, func(http.ResponseWriter, *http.Request) {})
	c := s.client(t)
	tenant, _ := baggage.ContextWithMember(context.Background(), "tenant", "hooli")

	if _, err := c.Headers(tenant, otelcaracal.CallOptions{}); !errors.Is(err, otelcaracal.ErrNotBound) {
		t.Errorf("unbound context: %v", err)
	}

	// As the application, unbound: a bare root.
	h, err := c.Headers(tenant, otelcaracal.CallOptions{AsApplication: true})
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("Authorization") != "Bearer "+stubToken || h.Get("Baggage") != "" || len(h.Get("Traceparent")) != 55 {
		t.Errorf("bare root headers %v", h)
	}

	// A pinned token and an envelope.
	ctx, _ := baggage.ContextWithEnvelope(tenant, baggage.Envelope{AgentSession: "agent-2", DelegationEdge: "edge-1"})
	ctx = propagator.ContextWithSubjectToken(ctx, "pinned")
	h, err = c.Headers(ctx, otelcaracal.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const wantBaggage = "caracal.agent_session=agent-2,caracal.delegation_edge=edge-1,caracal.hop=0,tenant=hooli"
	if h.Get("Authorization") != "Bearer pinned" || h.Get("Baggage") != wantBaggage {
		t.Errorf("bound headers %v", h)
	}
}

// TestCaptureBind hands a context to many goroutines: each one bound from
// the capture sees the parent's envelope, token and span, and the changes
// one makes are seen by no other, nor by the parent. Run with -race.
func TestCaptureBind(t *testing.T) {
	parent, _ := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{
		AgentSession: "p", DelegationEdge: "e0", SubjectRecord: "r", Hop: 1,
	})
	parent, _ = baggage.ContextWithMember(parent, "tenant", "hooli")
	parent = propagator.ContextWithSubjectToken(parent, "tok-secret")
	tid, _ := trace.TraceIDFromHex("0123456789abcdef0123456789abcdef")
	sid, _ := trace.SpanIDFromHex("0123456789abcdef")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid})
	parent = trace.ContextWithSpanContext(parent, sc)
	want := baggage.FromContext(parent)

	b := otelcaracal.Capture(parent)
	for _, s := range []string{fmt.Sprint(b), fmt.Sprintf("%+v", b), fmt.Sprintf("%#v", b)} {
		noSecrets(t, s, "tok-secret")
	}

	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target, cancel := context.WithCancel(context.Background())
			defer cancel()
			ctx := otelcaracal.Bind(target, b)
			if env := baggage.FromContext(ctx); env != want {
				errs <- fmt.Errorf("bound envelope %+v, want %+v", env, want)
			}
			if tok, _ := propagator.SubjectTokenFromContext(ctx); tok != "tok-secret" {
				errs <- errors.New("token not carried")
			}
			if !trace.SpanContextFromContext(ctx).Equal(sc) {
				errs <- errors.New("span not carried")
			}
			edge := fmt.Sprintf("edge-%d", i)
			mine, err := baggage.AcceptDelegation(ctx, edge)
			if err == nil {
				mine, err = baggage.ContextWithMember(mine, "worker", edge)
			}
			if err != nil {
				errs <- err
				return
			}
			again := otelcaracal.Bind(context.Background(), otelcaracal.Capture(mine))
			if env := baggage.FromContext(again); env.DelegationEdge != edge || env.ParentEdge != "e0" || env.Hop != 2 {
				errs <- fmt.Errorf("goroutine %d sees %+v", i, env)
			}
			if w := otelbaggage.FromContext(again).Member("worker").Value(); w != edge {
				errs <- fmt.Errorf("goroutine %d sees worker %q", i, w)
			}
			cancel()
			if otelcaracal.Bind(target, b).Err() == nil {
				errs <- errors.New("the target's cancellation was lost")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := baggage.FromContext(parent); got != want {
		t.Errorf("parent changed to %+v", got)
	}
	if got := b.Envelope(); got != want {
		t.Errorf("capture changed to %+v", got)
	}
	if strings.Contains(otelbaggage.FromContext(otelcaracal.Bind(context.Background(), b)).String(), "worker") {
		t.Error("a child's member reached the capture")
	}
}
