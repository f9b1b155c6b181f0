// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal"
	"github.com/otelcaracal/otelcaracal/baggage"
)

// sessionCreated answers a start with session-1.
func sessionCreated(w http.ResponseWriter) {
	writeJSON(w, http.StatusCreated, map[string]any{
		"agent_session_id": "session-1", "delegation_edge_id": nil, "lease_generation": 0,
	})
}

// parentContext returns a context acting for session parent-session, so
// that Delegate has a source.
func parentContext(t *testing.T) context.Context {
	t.Helper()
	ctx, err := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{AgentSession: "parent-session"})
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func TestCoordinatorFailures(t *testing.T) {
	start := func(c *otelcaracal.Client, ctx context.Context) error {
		return c.Session(ctx, func(context.Context) error { return nil }, otelcaracal.SessionOptions{})
	}
	delegate := func(c *otelcaracal.Client, ctx context.Context) error {
		_, err := c.Delegate(ctx, otelcaracal.DelegateOptions{Target: "target-1", Scopes: []string{"s"},
			Resource: "resource://r", TTL: time.Minute})
		return err
	}
	tests := []struct {
		name     string
		call     func(*otelcaracal.Client, context.Context) error
		status   int
		body     string
		header   map[string]string
		attempts int      // coordinator requests expected
		is       error    // sentinel the error matches, if any
		code     string   // CoordinatorError code, if one
		says     []string // substrings of the error
		retry    time.Duration
	}{
		{name: "start, 5xx retried twice", call: start, status: 503,
			body: `{"error":"unavailable"}`, attempts: 3, code: "unavailable",
			says: []string{"start session", "POST", "/zones/z/agents", "503"}},
		{name: "delegation, 5xx retried once", call: delegate, status: 500,
			body: `{"error":"internal_error"}`, attempts: 2, code: "internal_error",
			says: []string{"create delegation", "/zones/z/delegations"}},
		{name: "start, 429 not retried", call: start, status: 429,
			body:     `{"error":"session_limit_exceeded","request_id":"rq-1"}`,
			header:   map[string]string{"Retry-After": "3"},
			attempts: 1, code: "session_limit_exceeded", retry: 3 * time.Second,
			says: []string{"429", "retry after 3s", `"rq-1"`}},
		{name: "start, 409 not retried", call: start, status: 409,
			body:     `{"error":"task_session_cannot_start_service"}`,
			attempts: 1, code: "task_session_cannot_start_service", says: []string{"start session", "409"}},
		{name: "start, empty body", call: start, status: 201, body: `{}`, attempts: 1,
			is: otelcaracal.ErrInvalidResponse, says: []string{"agent_session_id"}},
		{name: "delegation, empty body", call: delegate, status: 201, body: `{}`, attempts: 1,
			is: otelcaracal.ErrInvalidResponse, says: []string{"delegation_edge_id"}},
		{name: "start, not JSON", call: start, status: 201, body: `<html>`, attempts: 1,
			is: otelcaracal.ErrInvalidResponse, says: []string{"start session"}},
		{name: "token echoed in an error body", call: start, status: 400,
			body: `{"error":"invalid_body",` +
				`"error_description":"bad eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}`,
			attempts: 1, code: "invalid_body", says: []string{"[REDACTED]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			})
			c := s.client(t)
			err := tt.call(c, parentContext(t))
			if err == nil {
				t.Fatal("no error")
			}
			reqs := s.requests()
			if len(reqs) != tt.attempts {
				t.Errorf("%d requests, want %d", len(reqs), tt.attempts)
			}
			for _, r := range reqs[1:] {
				if k := r.Header.Get("Idempotency-Key"); k == "" || k != reqs[0].Header.Get("Idempotency-Key") {
					t.Errorf("retry with Idempotency-Key %q, first had %q", k, reqs[0].Header.Get("Idempotency-Key"))
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("%v does not match %v", err, tt.is)
			}
			var ce *otelcaracal.CoordinatorError
			if tt.code != "" && (!errors.As(err, &ce) || ce.Code != tt.code || ce.RetryAfter != tt.retry) {
				t.Errorf("error %#v, want code %q and retry %v", err, tt.code, tt.retry)
			}
			for _, w := range tt.says {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			noSecrets(t, err.Error(), stubToken, stubSecret, "eyJhbGciOiJFUzI1NiJ9")
		})
	}
}

// TestCoordinatorUnreachable points the client at a port nothing listens
// on: the start is tried three times, then fails naming the call, and
// nothing is left running (TestMain checks for goroutines).
func TestCoordinatorUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	s := newStub(t, func(http.ResponseWriter, *http.Request) {})
	c := s.client(t, otelcaracal.WithCoordinatorURL(dead))
	begin := time.Now()
	err = c.Session(context.Background(), func(context.Context) error { return nil }, otelcaracal.SessionOptions{})
	if !errors.Is(err, otelcaracal.ErrCoordinatorUnreachable) || !strings.Contains(err.Error(), "start session") {
		t.Fatalf("error %v", err)
	}
	// Two backoffs: 250 ms and 500 ms, each with up to 100 ms of jitter.
	if d := time.Since(begin); d < 750*time.Millisecond || d > 5*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

func TestCoordinatorCanceled(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	c := s.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	err := c.Session(ctx, func(context.Context) error { return nil }, otelcaracal.SessionOptions{})
	if err == nil || time.Since(begin) > 2*time.Second {
		t.Fatalf("error %v after %v", err, time.Since(begin))
	}
}

// TestCoordinatorRetryAfter checks a 503 with Retry-After: 1 is retried
// after about a second, with the same key, and then succeeds.
func TestCoordinatorRetryAfter(t *testing.T) {
	n := 0
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if n++; n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		sessionCreated(w)
	})
	c := s.client(t)
	begin := time.Now()
	if err := c.Session(context.Background(), func(context.Context) error { return nil },
		otelcaracal.SessionOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d < time.Second {
		t.Errorf("retried after %v, before Retry-After", d)
	}
	reqs := s.requests()
	if len(reqs) != 3 || reqs[0].Header.Get("Idempotency-Key") != reqs[1].Header.Get("Idempotency-Key") {
		t.Errorf("requests %+v", reqs)
	}
}

// TestCoordinatorRefreshOn401 checks that a 401 makes the client exchange
// a fresh lifecycle token once and retry.
func TestCoordinatorRefreshOn401(t *testing.T) {
	tests := []struct {
		name      string
		failures  int
		wantErr   bool
		exchanges int
	}{
		{name: "one 401", failures: 1, exchanges: 2},
		{name: "401 twice", failures: 2, wantErr: true, exchanges: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := 0
			s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
				if n++; n <= tt.failures {
					writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
					return
				}
				if r.Method == http.MethodDelete {
					w.WriteHeader(http.StatusNoContent)
					return
				}
				sessionCreated(w)
			})
			c := s.client(t)
			err := c.Session(context.Background(), func(context.Context) error { return nil },
				otelcaracal.SessionOptions{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v", err)
			}
			if got := s.exchanges(); got != tt.exchanges {
				t.Errorf("%d exchanges, want %d", got, tt.exchanges)
			}
		})
	}
}

// TestCoordinatorWire pins the headers of coordinator calls (Caracal
// protocol §4.1, §4.2, §10.13): bearer, idempotency, and the trace of the
// caller's context with a fresh span id per call, its tracestate and its
// baggage.
func TestCoordinatorWire(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case strings.HasSuffix(r.URL.Path, "/heartbeat"):
			writeJSON(w, http.StatusOK, map[string]any{"agent": map[string]any{
				"status": "active", "lease_generation": 1, "heartbeat_deadline_at": "2099-01-01T00:00:00Z",
			}})
		default:
			writeJSON(w, http.StatusCreated, map[string]any{
				"agent_session_id": "session-1", "lease_generation": 1,
				"heartbeat_deadline_at": "2099-01-01T00:00:00Z",
			})
		}
	})
	c := s.client(t)
	tid, _ := trace.TraceIDFromHex("11111111111111111111111111111111")
	sid, _ := trace.SpanIDFromHex("2222222222222222")
	ts, _ := trace.ParseTraceState("vendor=value")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, TraceState: ts, Remote: true,
	}))
	ctx, err := baggage.ContextWithMember(ctx, "tenant", "hooli")
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.StartSession(ctx, otelcaracal.ServiceOptions{HeartbeatInterval: -1,
		SessionOptions: otelcaracal.SessionOptions{IdempotencyKey: "my-key"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Heartbeat(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests", len(reqs))
	}
	start, beat, end := reqs[0], reqs[1], reqs[2]
	if start.Header.Get("Idempotency-Key") != "my-key" || start.Header.Get("Idempotency-Key-Kind") != "" {
		t.Errorf("start idempotency headers %v", start.Header)
	}
	if beat.Header.Get("Idempotency-Key") != "" {
		t.Error("heartbeat sent an Idempotency-Key")
	}
	spans := map[string]bool{}
	for _, r := range reqs[:2] {
		if r.Header.Get("Authorization") != "Bearer "+stubToken {
			t.Errorf("%s %s: Authorization %q", r.Method, r.Path, r.Header.Get("Authorization"))
		}
		tp := strings.Split(r.Header.Get("Traceparent"), "-")
		if len(tp) != 4 || tp[1] != tid.String() || tp[2] == sid.String() || tp[3] != "01" {
			t.Errorf("%s %s: traceparent %q", r.Method, r.Path, r.Header.Get("Traceparent"))
		} else {
			spans[tp[2]] = true
		}
		if r.Header.Get("Tracestate") != "vendor=value" {
			t.Errorf("%s %s: tracestate %q", r.Method, r.Path, r.Header.Get("Tracestate"))
		}
	}
	if len(spans) != 2 {
		t.Errorf("start and heartbeat share a span id: %v", spans)
	}
	if !strings.Contains(start.Header.Get("Baggage"), "tenant=hooli") {
		t.Errorf("start baggage %q", start.Header.Get("Baggage"))
	}
	// The heartbeat acts for the new session.
	if !strings.Contains(beat.Header.Get("Baggage"), "caracal.agent_session=session-1") {
		t.Errorf("heartbeat baggage %q", beat.Header.Get("Baggage"))
	}
	if got := decodeBody(t, beat.Body); got["status"] != "healthy" || got["lease_generation"] != 1.0 {
		t.Errorf("heartbeat body %v", got)
	}
	if end.Method != http.MethodDelete || string(end.Body) != `{"lease_generation":1}` {
		t.Errorf("end %s %s", end.Method, end.Body)
	}
}

// TestEndSessionError pins the text of a refused terminate (Caracal
// protocol §10.13).
func TestEndSessionError(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Request-Id", "rq-9")
		writeJSON(w, http.StatusConflict, map[string]string{"error": "already_terminated"})
	})
	err := s.client(t).EndSession(context.Background(), "session-1")
	var ce *otelcaracal.CoordinatorError
	if !errors.As(err, &ce) || !ce.Gone() || ce.RequestID != "rq-9" {
		t.Fatalf("error %#v", err)
	}
	for _, w := range []string{"DELETE", "/zones/z/agents/session-1", "409", "already_terminated", `{\"error\"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func TestInvalidIDsAreNotSent(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	c := s.client(t)
	for _, id := range []string{"", "../admin", "a/b", strings.Repeat("x", 129), "sp ace"} {
		if err := c.EndSession(context.Background(), id); !errors.Is(err, otelcaracal.ErrInvalidRequest) {
			t.Errorf("EndSession(%q): %v", id, err)
		}
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestDelegationWire pins the create-delegation body with every
// constraint (Caracal protocol §10.13).
func TestDelegationWire(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusCreated, map[string]any{
			"delegation_edge_id": "edge-9", "scopes": []string{"data:read"}, "expires_at": "2026-07-05T00:00:00Z",
		})
	})
	c := s.client(t)
	ctx, _ := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{
		AgentSession: "agent-1", DelegationEdge: "edge-parent", Hop: 1,
	})
	d, err := c.Delegate(ctx, otelcaracal.DelegateOptions{
		Target: "agent-2", Scopes: []string{"data:read"}, Resource: "resource://pipernet", TTL: 60 * time.Second,
		Constraints: otelcaracal.DelegationConstraints{
			Resources: []string{"resource://pipernet"}, MaxDepth: 3, MaxHops: 2, TTL: 60 * time.Second,
			PolicyApproved: true, ExpiresAt: time.Date(2026, 7, 5, 0, 0, 0, 0, time.UTC),
			BroadReason: "batch import",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != "edge-9" || !d.ExpiresAt.Equal(time.Date(2026, 7, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("delegation %+v", d)
	}
	if baggage.FromContext(ctx).DelegationEdge != "edge-parent" {
		t.Error("the issuer's context changed")
	}
	req := s.requests()[0]
	var body struct {
		Constraints json.RawMessage `json:"constraints"`
		Rest        map[string]any
	}
	if err := json.Unmarshal(req.Body, &body); err != nil {
		t.Fatal(err)
	}
	const wantConstraints = `{"resources":["resource://pipernet"],"max_depth":3,"max_hops":2,"ttl_seconds":60,` +
		`"policy_approved":true,"expires_at":"2026-07-05T00:00:00Z","broad_reason":"batch import"}`
	if string(body.Constraints) != wantConstraints {
		t.Errorf("constraints\n%s\nwant\n%s", body.Constraints, wantConstraints)
	}
	got := decodeBody(t, req.Body)
	want := map[string]any{
		"issuer_application_id": "app", "source_session_id": "agent-1", "target_session_id": "agent-2",
		"receiver_application_id": "app", "resource_id": "resource://pipernet", "parent_edge_id": "edge-parent",
		"ttl_seconds": 60.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if req.Header.Get("Idempotency-Key") == "" || req.Header.Get("Idempotency-Key-Kind") != "generated" {
		t.Errorf("idempotency headers %v", req.Header)
	}
}

func TestDelegateRefusedLocally(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	c := s.client(t)
	inSession, _ := baggage.ContextWithEnvelope(context.Background(), baggage.Envelope{AgentSession: "a"})
	tests := []struct {
		name string
		ctx  context.Context
		opts otelcaracal.DelegateOptions
		is   error
	}{
		{"no session", context.Background(), otelcaracal.DelegateOptions{Target: "b", TTL: time.Minute},
			otelcaracal.ErrNoSession},
		{"no TTL", inSession, otelcaracal.DelegateOptions{Target: "b"}, otelcaracal.ErrInvalidRequest},
		{"no target", inSession, otelcaracal.DelegateOptions{TTL: time.Minute}, otelcaracal.ErrInvalidRequest},
		{"max_hops 11", inSession, otelcaracal.DelegateOptions{Target: "b", TTL: time.Minute,
			Constraints: otelcaracal.DelegationConstraints{MaxHops: 11}}, otelcaracal.ErrInvalidRequest},
		{"budget 65", inSession, otelcaracal.DelegateOptions{Target: "b", TTL: time.Minute,
			Constraints: otelcaracal.DelegationConstraints{Budget: 65}}, otelcaracal.ErrInvalidRequest},
		{"bad key", inSession, otelcaracal.DelegateOptions{Target: "b", TTL: time.Minute, IdempotencyKey: " k"},
			otelcaracal.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Delegate(tt.ctx, tt.opts); !errors.Is(err, tt.is) {
				t.Errorf("error %v, want %v", err, tt.is)
			}
		})
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
}

// TestLifecycleTokenCached checks the client reuses its lifecycle token
// while fresh and exchanges a new one once it is not (Caracal protocol
// §5.4: the STS grants 300 s here, so it is fresh for 240 s).
func TestLifecycleTokenCached(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		sessionCreated(w)
	})
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	c := s.client(t, otelcaracal.WithClock(clock))
	run := func() {
		t.Helper()
		if err := c.Session(context.Background(), func(context.Context) error { return nil },
			otelcaracal.SessionOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	run()
	run()
	if n := s.exchanges(); n != 1 {
		t.Errorf("%d exchanges for two sessions, want 1", n)
	}
	mu.Lock()
	now = now.Add(250 * time.Second)
	mu.Unlock()
	run()
	if n := s.exchanges(); n != 2 {
		t.Errorf("%d exchanges after the token aged, want 2", n)
	}
	f, _ := url.ParseQuery(string(s.mints[0].Body))
	if f.Get("scope") != otelcaracal.LifecycleScope || f.Get("resource") != "resource://r" ||
		f.Get("client_secret") != stubSecret || f.Has("agent_session_id") {
		t.Errorf("lifecycle exchange form %v", f)
	}
}
