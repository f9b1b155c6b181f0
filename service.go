// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal // import "github.com/otelcaracal/otelcaracal"

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
)

// The heartbeat statuses of Caracal protocol §4.6.
const (
	StatusStarting  = "starting"
	StatusHealthy   = "healthy"
	StatusDegraded  = "degraded"
	StatusUnhealthy = "unhealthy"
)

// statusSuspended is the session status after its lease expired.
const statusSuspended = "suspended"

// Heartbeat cadence of Caracal protocol §4.6.
const (
	minHeartbeat      = time.Second
	maxHeartbeat      = 5 * time.Minute
	fallbackHeartbeat = 30 * time.Second
	heartbeatTimeout  = 10 * time.Second
)

// ServiceOptions are the parameters of StartSession and AttachSession.
type ServiceOptions struct {
	// SessionOptions are those of the start; TTL must be 0, as service
	// sessions live by their lease. AttachSession reads none of them.
	SessionOptions
	// HeartbeatInterval, when positive, renews the lease at that fixed
	// interval. Zero renews it at about a third of the time left on the
	// lease, between 1 s and 5 min, with ±10 % jitter (30 s while no
	// deadline is known). A negative value starts no background
	// heartbeat: call Heartbeat yourself.
	HeartbeatInterval time.Duration
	// OnStateChange, if set, is called with the old and new status when a
	// heartbeat reports a change. It runs on the goroutine that made the
	// heartbeat, the handle's own for background ones, and must not call
	// Close there.
	OnStateChange func(from, to string)
	// OnLeaseLost, if set, is called once when the session is gone,
	// fenced by a newer lease holder or suspended; the error matches
	// ErrLeaseLost and wraps the cause. Renewal has stopped by then, and
	// it may call Close.
	OnLeaseLost func(err error)
}

// SessionHandle holds a service session (Caracal protocol §4.6–4.7): a
// session without a TTL that lives while its lease is renewed. The handle
// renews it in the background, fenced by the lease generation: once a
// newer holder attaches, the coordinator refuses this one's renewals and
// the handle stops. Close it when done. A SessionHandle is safe for
// concurrent use.
type SessionHandle struct {
	c    *Client
	id   string
	env  baggage.Envelope
	opts ServiceOptions
	base context.Context // the start's values, bound to the session

	mu       sync.Mutex
	gen      int64
	status   string
	deadline time.Time
	lost     error
	closed   bool

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	lostOnce sync.Once
}

// StartSession starts a service session (lifecycle service) under ctx's
// session, as Session does for task sessions, and returns its handle,
// which renews the lease in the background until Close. The start is sent
// with an Idempotency-Key and retried up to twice on 5xx and network
// errors.
func (c *Client) StartSession(ctx context.Context, opts ServiceOptions) (*SessionHandle, error) {
	st, err := c.start(ctx, opts.SessionOptions, lifecycleService)
	if err != nil {
		return nil, err
	}
	return c.newHandle(ctx, st, opts), nil
}

// AttachSession takes over the service session id, for example after a
// restart (Caracal protocol §4.7): it acquires the lease, which fences
// every earlier holder, and returns a handle that renews it. The handle's
// context acts for the session as a root, hop 0.
func (c *Client) AttachSession(ctx context.Context, id string, opts ServiceOptions) (*SessionHandle, error) {
	if err := checkID("session id", id); err != nil {
		return nil, err
	}
	var resp struct {
		Status              string `json:"status"`
		HeartbeatDeadlineAt string `json:"heartbeat_deadline_at"`
		LeaseGeneration     int64  `json:"lease_generation"`
	}
	_, err := c.coord.do(ctx, call{
		name: "acquire lease", method: http.MethodPost, path: c.path("agents", id, "lease"), out: &resp,
	})
	if err != nil {
		return nil, err
	}
	if resp.LeaseGeneration < 1 {
		return nil, fmt.Errorf("%w: acquire lease: lease_generation %d is not positive",
			ErrInvalidResponse, resp.LeaseGeneration)
	}
	st := started{id: id, env: baggage.Envelope{AgentSession: id}, gen: resp.LeaseGeneration, status: resp.Status}
	st.deadline, _ = time.Parse(time.RFC3339Nano, resp.HeartbeatDeadlineAt)
	return c.newHandle(ctx, st, opts), nil
}

func (c *Client) newHandle(ctx context.Context, st started, opts ServiceOptions) *SessionHandle {
	h := &SessionHandle{
		c: c, id: st.id, env: st.env, opts: opts,
		gen: st.gen, status: st.status, deadline: st.deadline,
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	h.base = bindSession(context.WithoutCancel(ctx), st.env)
	if opts.HeartbeatInterval < 0 {
		close(h.done)
		return h
	}
	go h.run()
	return h
}

// ID returns the session id.
func (h *SessionHandle) ID() string { return h.id }

// Context returns a copy of ctx acting for the session with the client's
// own token, as the context of a Session's function does.
func (h *SessionHandle) Context(ctx context.Context) context.Context { return bindSession(ctx, h.env) }

// LeaseGeneration returns the lease generation the handle holds.
func (h *SessionHandle) LeaseGeneration() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.gen
}

// Status returns the session status the coordinator last reported.
func (h *SessionHandle) Status() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status
}

// HeartbeatDeadline returns when the lease ends unless renewed; zero when
// unknown.
func (h *SessionHandle) HeartbeatDeadline() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.deadline
}

// Err returns the error that ended the lease, matching ErrLeaseLost, or
// nil while it holds.
func (h *SessionHandle) Err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lost
}

// Done returns a channel closed when background renewal has stopped:
// after Close, or once the lease is lost.
func (h *SessionHandle) Done() <-chan struct{} { return h.done }

// Heartbeat renews the lease now, reporting status (StatusHealthy when
// empty). Once the session is gone, fenced or suspended, it returns an
// error matching ErrLeaseLost, stops renewal and calls OnLeaseLost once.
// After Close it returns ErrClosed.
//
// The request acts for the session; without a trace of its own, ctx
// joins the trace the session was started in.
func (h *SessionHandle) Heartbeat(ctx context.Context, status string) error {
	if sc := trace.SpanContextFromContext(h.base); !trace.SpanContextFromContext(ctx).IsValid() && sc.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, sc)
	}
	err := h.heartbeat(h.Context(ctx), status)
	if errors.Is(err, ErrLeaseLost) {
		h.fireLost(err)
	}
	return err
}

func (h *SessionHandle) heartbeat(ctx context.Context, status string) error {
	switch status {
	case "":
		status = StatusHealthy
	case StatusStarting, StatusHealthy, StatusDegraded, StatusUnhealthy:
	default:
		return fmt.Errorf("%w: heartbeat status %q", ErrInvalidRequest, clip(status))
	}
	h.mu.Lock()
	gen, lost, closed := h.gen, h.lost, h.closed
	h.mu.Unlock()
	switch {
	case lost != nil:
		return lost
	case closed:
		return ErrClosed
	}
	var resp struct {
		Agent struct {
			Status              string `json:"status"`
			HeartbeatDeadlineAt string `json:"heartbeat_deadline_at"`
			LeaseGeneration     int64  `json:"lease_generation"`
		} `json:"agent"`
	}
	_, err := h.c.coord.do(ctx, call{
		name: "heartbeat", method: http.MethodPost, path: h.c.path("agents", h.id, "heartbeat"),
		body: struct {
			Status          string `json:"status"`
			LeaseGeneration int64  `json:"lease_generation"`
		}{status, gen},
		out: &resp,
	})
	var ce *CoordinatorError
	switch {
	case errors.As(err, &ce) && ce.Gone():
		return h.loseLease(err)
	case err != nil:
		return err
	case resp.Agent.LeaseGeneration < 1:
		return fmt.Errorf("%w: heartbeat: lease_generation %d is not positive",
			ErrInvalidResponse, resp.Agent.LeaseGeneration)
	}
	h.mu.Lock()
	from := h.status
	h.status, h.gen = resp.Agent.Status, resp.Agent.LeaseGeneration
	if t, err := time.Parse(time.RFC3339Nano, resp.Agent.HeartbeatDeadlineAt); err == nil {
		h.deadline = t
	}
	h.mu.Unlock()
	if from != resp.Agent.Status && h.opts.OnStateChange != nil {
		h.opts.OnStateChange(from, resp.Agent.Status)
	}
	if resp.Agent.Status == statusSuspended {
		return h.loseLease(fmt.Errorf("session %q is suspended", h.id))
	}
	return nil
}

// loseLease records the loss of the lease and stops renewal.
func (h *SessionHandle) loseLease(cause error) error {
	err := fmt.Errorf("%w: %w", ErrLeaseLost, cause)
	h.mu.Lock()
	if h.lost == nil {
		h.lost = err
	}
	err = h.lost
	h.mu.Unlock()
	h.stopOnce.Do(func() { close(h.stop) })
	return err
}

func (h *SessionHandle) fireLost(err error) {
	h.lostOnce.Do(func() {
		if h.opts.OnLeaseLost != nil {
			h.opts.OnLeaseLost(err)
		}
	})
}

// run renews the lease until stopped or lost. OnLeaseLost runs after
// Done is closed, so that it may call Close.
func (h *SessionHandle) run() {
	err := h.loop()
	close(h.done)
	if err != nil {
		h.fireLost(err)
	}
}

func (h *SessionHandle) loop() error {
	for {
		t := time.NewTimer(h.nextInterval())
		select {
		case <-h.stop:
			t.Stop()
			return nil
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(h.base, heartbeatTimeout)
		err := h.heartbeat(ctx, "")
		cancel()
		if errors.Is(err, ErrLeaseLost) {
			return err
		}
		// Any other failure is retried at the next tick, while the lease
		// may still hold.
	}
}

// nextInterval returns the wait before the next background heartbeat.
func (h *SessionHandle) nextInterval() time.Duration {
	if h.opts.HeartbeatInterval > 0 {
		return h.opts.HeartbeatInterval
	}
	h.mu.Lock()
	deadline := h.deadline
	h.mu.Unlock()
	if deadline.IsZero() {
		return fallbackHeartbeat
	}
	d := min(max(deadline.Sub(h.c.cfg.now())/3, minHeartbeat), maxHeartbeat)
	return time.Duration(float64(d) * (0.9 + 0.2*mrand.Float64()))
}

// Close stops renewal and ends the session, sending the lease generation
// that fences it (Caracal protocol §4.5). A session whose lease was lost
// is not ended: another holder may own it. A session the coordinator has
// already retired is not an error. Close waits for a heartbeat in flight;
// calling it again returns nil.
func (h *SessionHandle) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	h.stopOnce.Do(func() { close(h.stop) })
	<-h.done
	h.mu.Lock()
	gen, lost := h.gen, h.lost
	h.mu.Unlock()
	if lost != nil {
		return nil
	}
	return errNotGone(h.c.terminate(ctx, h.id, gen))
}
