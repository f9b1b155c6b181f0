// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otelcaracal/otelcaracal"
	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/caracaltest"
)

const routeHeartbeat = "POST /zones/{zone}/agents/{id}/heartbeat"

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, cond func() bool) bool {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestServiceSession renews a 3 s lease at about a third of the time
// left, then ends the session with its lease generation.
func TestServiceSession(t *testing.T) {
	cp := newControlPlane(t, caracaltest.WithLease(3*time.Second))
	c := cp.client(t)
	begin := time.Now()
	h, err := c.StartSession(context.Background(), otelcaracal.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if h.LeaseGeneration() != 1 || h.ID() == "" || h.HeartbeatDeadline().IsZero() {
		t.Errorf("handle %s, generation %d, deadline %v", h.ID(), h.LeaseGeneration(), h.HeartbeatDeadline())
	}
	if env := baggage.FromContext(h.Context(context.Background())); env.AgentSession != h.ID() {
		t.Errorf("handle context %+v", env)
	}
	if !waitFor(t, 3*time.Second, func() bool { return cp.Calls()[routeHeartbeat] >= 1 }) {
		t.Fatal("no heartbeat within the lease")
	}
	// A third of 3 s is 1 s, ±10 %.
	if d := time.Since(begin); d < 800*time.Millisecond || d > 2500*time.Millisecond {
		t.Errorf("first heartbeat after %v", d)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.Done():
	default:
		t.Error("renewal still running after Close")
	}
	if calls := cp.Calls(); calls[routeEnd] != 1 {
		t.Errorf("calls %v", calls)
	}
	if err := h.Heartbeat(context.Background(), ""); !errors.Is(err, otelcaracal.ErrClosed) {
		t.Errorf("heartbeat after Close: %v", err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestServiceLeaseLost attaches a second holder: the first one's next
// renewal is fenced, it stops renewing and calls its callback once,
// which may close it.
func TestServiceLeaseLost(t *testing.T) {
	cp := newControlPlane(t)
	c := cp.client(t)
	var first atomic.Pointer[otelcaracal.SessionHandle]
	var lost atomic.Int32
	lostErr := make(chan error, 4)
	h, err := c.StartSession(context.Background(), otelcaracal.ServiceOptions{
		HeartbeatInterval: 20 * time.Millisecond,
		OnLeaseLost: func(err error) {
			lost.Add(1)
			lostErr <- err
			if err := first.Load().Close(context.Background()); err != nil {
				lostErr <- err
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	first.Store(h)
	if !waitFor(t, 2*time.Second, func() bool { return cp.Calls()[routeHeartbeat] >= 2 }) {
		t.Fatal("no renewal")
	}
	second, err := c.AttachSession(context.Background(), h.ID(), otelcaracal.ServiceOptions{HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if second.LeaseGeneration() != 2 {
		t.Errorf("attached generation %d", second.LeaseGeneration())
	}
	select {
	case <-h.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("the fenced handle kept renewing")
	}
	err = <-lostErr
	var ce *otelcaracal.CoordinatorError
	if !errors.Is(err, otelcaracal.ErrLeaseLost) || !errors.As(err, &ce) || ce.Code != "session_lease_fenced" {
		t.Errorf("lease-lost error %v", err)
	}
	beats := cp.Calls()[routeHeartbeat]
	time.Sleep(100 * time.Millisecond)
	if now := cp.Calls()[routeHeartbeat]; now != beats {
		t.Errorf("%d heartbeats after the lease was lost", now-beats)
	}
	if err := h.Heartbeat(context.Background(), ""); !errors.Is(err, otelcaracal.ErrLeaseLost) {
		t.Errorf("heartbeat after the loss: %v", err)
	}
	if n := lost.Load(); n != 1 {
		t.Errorf("callback called %d times", n)
	}
	if !errors.Is(h.Err(), otelcaracal.ErrLeaseLost) {
		t.Errorf("Err %v", h.Err())
	}
	if n := cp.Calls()[routeEnd]; n != 0 {
		t.Errorf("the fenced holder ended the session (%d)", n)
	}
	if err := second.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := cp.Calls()[routeEnd]; n != 1 {
		t.Errorf("%d ends", n)
	}
	select {
	case err := <-lostErr:
		t.Errorf("Close from the callback: %v", err)
	default:
	}
}

// TestServiceSuspended: a heartbeat that reports the session suspended
// changes the state, loses the lease and stops renewal; a transient
// failure before it does not.
func TestServiceSuspended(t *testing.T) {
	var beats atomic.Int32
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/heartbeat"):
			status := "active"
			switch beats.Add(1) {
			case 1:
				w.WriteHeader(http.StatusBadGateway)
				return
			case 2:
				status = "degraded"
			case 3:
				status = "suspended"
			}
			writeJSON(w, http.StatusOK, map[string]any{"agent": map[string]any{
				"status": status, "lease_generation": 1, "heartbeat_deadline_at": "2099-01-01T00:00:00Z",
			}})
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		default:
			writeJSON(w, http.StatusCreated, map[string]any{
				"agent_session_id": "session-1", "lease_generation": 1, "status": "active",
			})
		}
	})
	c := s.client(t)
	var mu sync.Mutex
	var changes []string
	lost := make(chan error, 2)
	h, err := c.StartSession(context.Background(), otelcaracal.ServiceOptions{
		HeartbeatInterval: 10 * time.Millisecond,
		OnStateChange: func(from, to string) {
			mu.Lock()
			changes = append(changes, from+">"+to)
			mu.Unlock()
		},
		OnLeaseLost: func(err error) { lost <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-lost:
		if !errors.Is(err, otelcaracal.ErrLeaseLost) || !strings.Contains(err.Error(), "suspended") {
			t.Errorf("lease-lost error %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no lease-lost callback")
	}
	<-h.Done()
	mu.Lock()
	if got := strings.Join(changes, " "); got != "active>degraded degraded>suspended" {
		t.Errorf("state changes %q", got)
	}
	mu.Unlock()
	if n := beats.Load(); n != 3 {
		t.Errorf("%d heartbeats, want 3", n)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestServiceRefusedLocally(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, _ *http.Request) { sessionCreated(w) })
	c := s.client(t)
	_, err := c.StartSession(context.Background(), otelcaracal.ServiceOptions{
		SessionOptions: otelcaracal.SessionOptions{TTL: time.Minute}})
	if !errors.Is(err, otelcaracal.ErrInvalidRequest) {
		t.Errorf("service session with a TTL: %v", err)
	}
	// A start response without a lease generation is not a service session.
	_, err = c.StartSession(context.Background(), otelcaracal.ServiceOptions{})
	if !errors.Is(err, otelcaracal.ErrInvalidResponse) {
		t.Errorf("no lease generation: %v", err)
	}
}

// TestAttachAndFencedEnd is Caracal protocol §10.13: the lease call
// returns generation 4, and the end sends it.
func TestAttachAndFencedEnd(t *testing.T) {
	s := newStub(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"status": "active", "lease_generation": 4, "heartbeat_deadline_at": "2099-01-01T00:00:00Z",
		})
	})
	c := s.client(t)
	h, err := c.AttachSession(context.Background(), "session-1", otelcaracal.ServiceOptions{HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if h.LeaseGeneration() != 4 || h.Status() != "active" {
		t.Errorf("generation %d, status %q", h.LeaseGeneration(), h.Status())
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	reqs := s.requests()
	if len(reqs) != 2 || reqs[0].Path != "/zones/z/agents/session-1/lease" || len(reqs[0].Body) != 0 ||
		reqs[1].Method != http.MethodDelete || string(reqs[1].Body) != `{"lease_generation":4}` {
		t.Errorf("requests %+v", reqs)
	}
}
