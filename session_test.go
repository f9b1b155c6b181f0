// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal"
	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/mandate"
)

const (
	routeStart    = "POST /zones/{zone}/agents"
	routeEnd      = "DELETE /zones/{zone}/agents/{id}"
	routeDelegate = "POST /zones/{zone}/delegations"
)

var errWork = errors.New("work failed")

func narrow() otelcaracal.Authority {
	return otelcaracal.NarrowAuthority(otelcaracal.Narrowing{
		Resource: resTools, Scopes: []string{scopeRead}, TTL: 20 * time.Minute,
		Constraints: otelcaracal.DelegationConstraints{MaxHops: 3},
	})
}

func TestSessionRoot(t *testing.T) {
	cp := newControlPlane(t)
	c := cp.client(t)
	err := c.Session(context.Background(), func(ctx context.Context) error {
		env := baggage.FromContext(ctx)
		if env.AgentSession == "" || env.DelegationEdge != "" || env.ParentEdge != "" || env.Hop != 0 {
			t.Errorf("root envelope %+v", env)
		}
		h, err := c.Headers(ctx, otelcaracal.CallOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The session acts with the application's own lifecycle token.
		tok, _ := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
		v, err := cp.Verifier(cp.Issuer(), mandate.WithAllowedUses(mandate.UseSession))
		if err != nil {
			t.Fatal(err)
		}
		claims, err := v.Verify(ctx, tok)
		if err != nil || !claims.HasScope(otelcaracal.LifecycleScope) {
			t.Errorf("session token: %v", err)
		}
		if !strings.Contains(h.Get("Baggage"), "caracal.agent_session="+env.AgentSession) {
			t.Errorf("baggage %q", h.Get("Baggage"))
		}
		return errWork
	}, otelcaracal.SessionOptions{TTL: time.Minute, Labels: []string{"worker"}, Task: "summarize"})
	if !errors.Is(err, errWork) {
		t.Fatalf("error %v, want fn's", err)
	}
	if calls := cp.Calls(); calls[routeStart] != 1 || calls[routeEnd] != 1 {
		t.Errorf("calls %v", calls)
	}
}

// TestSessionTree runs a root, a narrowed child and an inheriting
// grandchild against the in-process control plane (Caracal protocol
// §2.6, §4.3, §4.4, §10.10), and calls the resource from the child.
func TestSessionTree(t *testing.T) {
	cp := newControlPlane(t)
	c := cp.client(t)
	var root, child, grandchild baggage.Envelope
	err := c.Session(context.Background(), func(ctx context.Context) error {
		root = baggage.FromContext(ctx)
		return c.Session(ctx, func(ctx context.Context) error {
			child = baggage.FromContext(ctx)
			if calls := cp.Calls(); calls[routeStart] != 2 || calls[routeDelegate] != 1 {
				t.Errorf("narrowing under a root made calls %v, want 3 POSTs", calls)
			}
			resp, err := c.Fetch(ctx, http.MethodGet, resTools, "/items?x=1", nil,
				otelcaracal.TransportOptions{Scopes: []string{scopeRead}})
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"path":"/items"`) {
				t.Errorf("fetch: %d %s", resp.StatusCode, body)
			}
			return c.Session(ctx, func(ctx context.Context) error {
				grandchild = baggage.FromContext(ctx)
				return nil
			}, otelcaracal.SessionOptions{})
		}, otelcaracal.SessionOptions{Authority: narrow()})
	}, otelcaracal.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if child.AgentSession == root.AgentSession || child.DelegationEdge == "" || child.ParentEdge != "" ||
		child.Hop != 1 {
		t.Errorf("narrowed child %+v under %+v", child, root)
	}
	if grandchild.DelegationEdge == "" || grandchild.DelegationEdge == child.DelegationEdge ||
		grandchild.ParentEdge != child.DelegationEdge || grandchild.Hop != 2 {
		t.Errorf("inheriting grandchild %+v under %+v", grandchild, child)
	}
	if calls := cp.Calls(); calls[routeEnd] != 3 {
		t.Errorf("%d sessions ended, want 3", calls[routeEnd])
	}
}

// TestSessionInherit pins the inherit and none requests and envelopes of
// Caracal protocol §2.6 and §10.10 against a stub coordinator.
func TestSessionInherit(t *testing.T) {
	tests := []struct {
		name      string
		authority otelcaracal.Authority
		mirrored  any
		wantBody  string
		want      baggage.Envelope
	}{
		{"inherit, edge mirrored", otelcaracal.InheritAuthority(), "edge-child", "inherit",
			baggage.Envelope{AgentSession: "session-1", DelegationEdge: "edge-child",
				ParentEdge: "edge-parent", Hop: 2}},
		{"inherit, no edge", otelcaracal.Authority{}, nil, "inherit",
			baggage.Envelope{AgentSession: "session-1", ParentEdge: "edge-parent", Hop: 1}},
		{"none", otelcaracal.NoAuthority(), "ignored", "none",
			baggage.Envelope{AgentSession: "session-1", ParentEdge: "edge-parent", Hop: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodDelete {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				writeJSON(w, http.StatusCreated, map[string]any{
					"agent_session_id": "session-1", "delegation_edge_id": tt.mirrored, "lease_generation": 0,
				})
			})
			c := s.client(t)
			ctx, _ := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{
				AgentSession: "parent-session", DelegationEdge: "edge-parent", Hop: 1,
			})
			var got baggage.Envelope
			err := c.Session(ctx, func(ctx context.Context) error {
				got = baggage.FromContext(ctx)
				return nil
			}, otelcaracal.SessionOptions{Authority: tt.authority})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("envelope %+v, want %+v", got, tt.want)
			}
			body := decodeBody(t, s.requests()[0].Body)
			if body["parent_authority"] != tt.wantBody || body["parent_id"] != "parent-session" ||
				body["application_id"] != "app" {
				t.Errorf("start body %v", body)
			}
			for _, k := range []string{"inherit_parent_edge_id", "lifecycle", "ttl_seconds"} {
				if _, ok := body[k]; ok {
					t.Errorf("start body has %s: %v", k, body)
				}
			}
		})
	}
}

func TestSessionNarrowFailureEndsChild(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.URL.Path, "/delegations"):
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "delegation_exceeds_parent_authority"})
		default:
			sessionCreated(w)
		}
	})
	c := s.client(t)
	ctx, _ := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{AgentSession: "parent-session"})
	ran := false
	err := c.Session(ctx, func(context.Context) error { ran = true; return nil },
		otelcaracal.SessionOptions{Authority: narrow()})
	var ce *otelcaracal.CoordinatorError
	if !errors.As(err, &ce) || ce.Code != "delegation_exceeds_parent_authority" || ran {
		t.Fatalf("error %v, ran %v", err, ran)
	}
	reqs := s.requests()
	if len(reqs) != 3 || reqs[2].Method != http.MethodDelete || reqs[2].Path != "/zones/z/agents/session-1" {
		t.Errorf("requests %+v", reqs)
	}
	body := decodeBody(t, reqs[1].Body)
	if body["source_session_id"] != "parent-session" || body["target_session_id"] != "session-1" ||
		body["ttl_seconds"] != 1200.0 {
		t.Errorf("narrowing delegation body %v", body)
	}
	if _, ok := body["parent_edge_id"]; ok {
		t.Errorf("parent_edge_id sent for a parent without a delegation: %v", body)
	}
}

func TestSessionRefusedLocally(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, _ *http.Request) { sessionCreated(w) })
	c := s.client(t)
	inParent, _ := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{AgentSession: "p"})
	tests := []struct {
		name string
		ctx  context.Context
		opts otelcaracal.SessionOptions
		is   error
	}{
		{"narrow without a parent", context.Background(), otelcaracal.SessionOptions{Authority: narrow()},
			otelcaracal.ErrNoSession},
		{"narrow without a TTL", inParent, otelcaracal.SessionOptions{
			Authority: otelcaracal.NarrowAuthority(otelcaracal.Narrowing{Resource: resTools})},
			otelcaracal.ErrInvalidRequest},
		{"fractional TTL", context.Background(), otelcaracal.SessionOptions{TTL: 1500 * time.Millisecond},
			otelcaracal.ErrInvalidRequest},
		{"TTL over a day", context.Background(), otelcaracal.SessionOptions{TTL: 25 * time.Hour},
			otelcaracal.ErrInvalidRequest},
		{"empty label", context.Background(), otelcaracal.SessionOptions{Labels: []string{""}},
			otelcaracal.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Session(tt.ctx, func(context.Context) error { return nil }, tt.opts)
			if !errors.Is(err, tt.is) {
				t.Errorf("error %v, want %v", err, tt.is)
			}
		})
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestSessionAlwaysEnds checks the session ends after fn panics and after
// the caller's context is canceled.
func TestSessionAlwaysEnds(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		sessionCreated(w)
	})
	c := s.client(t)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic not passed on")
			}
		}()
		_ = c.Session(context.Background(), func(context.Context) error { panic("boom") },
			otelcaracal.SessionOptions{})
	}()
	ctx, cancel := context.WithCancel(context.Background())
	err := c.Session(ctx, func(context.Context) error {
		cancel()
		return nil
	}, otelcaracal.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ends := 0
	for _, r := range s.requests() {
		if r.Method == http.MethodDelete {
			ends++
		}
	}
	if ends != 2 {
		t.Errorf("%d sessions ended, want 2", ends)
	}
}

// TestDelegateAndAccept delegates from one session to another, accepts
// the delegation on the receiving side, mints under it, and revokes it.
func TestDelegateAndAccept(t *testing.T) {
	cp := newControlPlane(t)
	c := cp.client(t)
	err := c.Session(context.Background(), func(issuer context.Context) error {
		return c.Session(issuer, func(receiver context.Context) error {
			target := baggage.FromContext(receiver).AgentSession
			d, err := c.Delegate(issuer, otelcaracal.DelegateOptions{
				Target: target, Scopes: []string{scopeRead}, Resource: resTools, TTL: 5 * time.Minute,
			})
			if err != nil {
				return err
			}
			accepted, err := c.AcceptDelegation(receiver, d.ID)
			if err != nil {
				return err
			}
			want := baggage.Envelope{AgentSession: target, DelegationEdge: d.ID, Hop: 1,
				SubjectRecord: baggage.FromContext(receiver).SubjectRecord}
			if got := baggage.FromContext(accepted); got != want {
				t.Errorf("accepted %+v, want %+v", got, want)
			}
			tok, err := c.MintMandate(accepted, resTools, []string{scopeRead},
				otelcaracal.MintOptions{TTL: time.Minute})
			if err != nil {
				return err
			}
			v, _ := cp.Verifier(cp.Issuer(), mandate.WithAllowedUses(mandate.UseGateway))
			claims, err := v.Verify(accepted, tok.AccessToken)
			if err != nil || claims.DelegationEdgeID != d.ID || claims.AgentSessionID != target {
				t.Errorf("minted claims %+v: %v", claims, err)
			}
			if _, err := c.AcceptDelegation(receiver, "edge-unknown"); !isStatus(err, http.StatusNotFound) {
				t.Errorf("accepting an unknown delegation: %v", err)
			}
			if _, err := c.AcceptDelegation(context.Background(), d.ID); !errors.Is(err, otelcaracal.ErrNoSession) {
				t.Errorf("accepting without a session: %v", err)
			}
			res, err := c.RevokeDelegation(issuer, d.ID)
			if err != nil || res.RevokedEdges != 1 {
				t.Errorf("revoke: %+v, %v", res, err)
			}
			if _, err := c.AcceptDelegation(receiver, d.ID); !isStatus(err, http.StatusNotFound) {
				t.Errorf("accepting a revoked delegation: %v", err)
			}
			return nil
		}, otelcaracal.SessionOptions{Authority: otelcaracal.NoAuthority()})
	}, otelcaracal.SessionOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func isStatus(err error, status int) bool {
	var ce *otelcaracal.CoordinatorError
	return errors.As(err, &ce) && ce.StatusCode == status
}

// TestAcceptDelegationVector is Caracal protocol §10.10: accepting
// edge-42 on {agent-2, edge-own, hop 1}.
func TestAcceptDelegationVector(t *testing.T) {
	status := "active"
	s := newStub(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"id": "edge-42", "status": status})
	})
	c := s.client(t)
	ctx, _ := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{
		AgentSession: "agent-2", DelegationEdge: "edge-own", Hop: 1,
	})
	got, err := c.AcceptDelegation(ctx, "edge-42")
	if err != nil {
		t.Fatal(err)
	}
	want := baggage.Envelope{AgentSession: "agent-2", DelegationEdge: "edge-42", ParentEdge: "edge-own", Hop: 2}
	if env := baggage.FromContext(got); env != want {
		t.Errorf("envelope %+v, want %+v", env, want)
	}
	if p := s.requests()[0].Path; p != "/zones/z/delegations/inbound/agent-2/edge-42" {
		t.Errorf("path %q", p)
	}
	status = "revoked"
	if _, err := c.AcceptDelegation(ctx, "edge-42"); !errors.Is(err, otelcaracal.ErrDelegationInactive) {
		t.Errorf("inactive delegation: %v", err)
	}
}

// TestCoordinatorSpans checks that coordinator calls join the caller's
// trace as client spans, and that no span, attribute or error carries a
// token the control plane issued.
func TestCoordinatorSpans(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	cp := newControlPlane(t)
	c := cp.client(t, otelcaracal.WithTracerProvider(tp))

	ctx, work := tp.Tracer("test").Start(context.Background(), "work")
	var errs []error
	err := c.Session(ctx, func(ctx context.Context) error {
		_, err := c.Delegate(ctx, otelcaracal.DelegateOptions{Target: "session-unknown", Resource: resTools,
			Scopes: []string{scopeRead}, TTL: time.Minute})
		errs = append(errs, err)
		_, err = c.MintMandate(ctx, "resource://unknown", []string{scopeRead}, otelcaracal.MintOptions{})
		errs = append(errs, err)
		return nil
	}, otelcaracal.SessionOptions{})
	work.End()
	if err != nil {
		t.Fatal(err)
	}
	// The session's span is the caller's child; its calls are the
	// session span's children.
	var session trace.SpanContext
	for _, s := range sr.Ended() {
		if s.Name() == "caracal.session" {
			session = s.SpanContext()
			if s.Parent().SpanID() != work.SpanContext().SpanID() {
				t.Error("session span is not a child of the caller's span")
			}
		}
	}
	names := map[string]bool{}
	for _, s := range sr.Ended() {
		if s.Name() == "work" || s.Name() == "caracal.session" {
			continue
		}
		names[s.Name()] = true
		parent := s.Parent()
		if parent.SpanID() != session.SpanID() || s.SpanContext().TraceID() != work.SpanContext().TraceID() {
			t.Errorf("span %q is not a child of the session's span", s.Name())
		}
		var text strings.Builder
		for _, a := range s.Attributes() {
			text.WriteString(a.Value.Emit())
		}
		text.WriteString(s.Status().Description)
		noSecrets(t, text.String(), cp.IssuedTokens()...)
	}
	for _, n := range []string{"start session", "create delegation", "end session"} {
		if !names["caracal.coordinator "+n] {
			t.Errorf("no span for %s in %v", n, names)
		}
	}
	for _, err := range errs {
		if err == nil {
			t.Fatal("a refused call succeeded")
		}
		noSecrets(t, err.Error(), append(cp.IssuedTokens(), cp.ClientSecret)...)
	}
}
