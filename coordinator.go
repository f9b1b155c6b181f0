// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal // import "github.com/otelcaracal/otelcaracal"

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/propagator"
)

// Retry policy of Caracal protocol §4.2.
const (
	// retryStep is the backoff unit: attempt n waits (n+1) × retryStep.
	retryStep = 250 * time.Millisecond
	// retryJitter is the most random delay added to any wait.
	retryJitter = 100 * time.Millisecond
	// maxRetryAfter caps a server's Retry-After.
	maxRetryAfter = 10 * time.Second
	// refreshJitter is the most a token refresh after a 401 waits.
	refreshJitter = 250 * time.Millisecond
	// startRetries and delegateRetries are the further attempts of a
	// session start and a delegation create on 5xx or network errors.
	startRetries    = 2
	delegateRetries = 1
)

// Limits of coordinator requests and responses.
const (
	maxResponseBytes  = 1 << 20
	maxIdempotencyKey = 255
	maxErrorField     = 256
)

// idPattern is the id syntax the coordinator accepts in paths (Caracal
// protocol §4.1).
var idPattern = regexp.MustCompile(`^[A-Za-z0-9_.\-:]{1,128}$`)

// coordinator makes the HTTP calls of Caracal protocol §4.
//
// Each call carries traceparent, tracestate and baggage, unlike Caracal's
// SDKs, which send no baggage to the coordinator (§4.1): here the control
// plane joins the trace as any OpenTelemetry service does, and the
// coordinator ignores baggage, which is unsigned and authorizes nothing.
type coordinator struct {
	c      *Client
	base   string
	client *http.Client
}

func newCoordinator(c *Client) *coordinator {
	hc := *c.cfg.httpClient
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &coordinator{c: c, base: strings.TrimRight(c.coordinatorURL, "/"), client: &hc}
}

// call is one coordinator call.
type call struct {
	name    string // the SDK call, for errors and spans
	method  string
	path    string // escaped, from /zones/
	body    any    // nil: no body
	create  bool   // sends an Idempotency-Key
	key     string // the caller's key; empty: generated
	retries int    // further attempts on 5xx and network errors
	out     any    // the decoded success body; ignored for 204
}

// path returns /zones/{zone}/ followed by segs, each path-escaped.
func (c *Client) path(segs ...string) string {
	var b strings.Builder
	b.WriteString("/zones/")
	b.WriteString(url.PathEscape(c.zone))
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// checkID refuses an id the coordinator would not accept in a path.
func checkID(what, id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: %s %q must match %s", ErrInvalidRequest, what, clip(id), idPattern)
	}
	return nil
}

// checkKey checks a caller's Idempotency-Key (Caracal protocol §4.2).
func checkKey(key string) error {
	if key == "" {
		return nil
	}
	ok := len(key) <= maxIdempotencyKey && utf8.ValidString(key) && strings.TrimSpace(key) == key &&
		strings.IndexFunc(key, unicode.IsControl) < 0
	if !ok {
		return fmt.Errorf("%w: idempotency key %q must be 1..255 bytes of UTF-8 without control characters or "+
			"surrounding space", ErrInvalidRequest, clip(key))
	}
	return nil
}

// do runs cl: one attempt, then retries on 5xx or network errors while
// cl.retries allow, and one token refresh after a 401. It returns whether
// the coordinator replayed a recorded response.
func (co *coordinator) do(ctx context.Context, cl call) (replayed bool, err error) {
	var payload []byte
	if cl.body != nil {
		if payload, err = json.Marshal(cl.body); err != nil {
			return false, fmt.Errorf("%w: %s: %w", ErrInvalidRequest, cl.name, err)
		}
	}
	key, generated := cl.key, false
	if cl.create && key == "" {
		key, generated = newKey(), true
	}
	ctx, span := co.c.tracer().Start(ctx, "caracal.coordinator "+cl.name,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("http.request.method", cl.method),
			attribute.String("url.path", cl.path),
		))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, cl.name+" failed")
		}
		span.End()
	}()
	wire := wireContext(ctx, span)

	refreshed, force := false, false
	for attempt := 0; ; attempt++ {
		tok, err := co.c.lifecycleToken(ctx, force)
		if err != nil {
			return false, fmt.Errorf("otelcaracal: %s: %w", cl.name, err)
		}
		force = false
		resp, body, err := co.send(ctx, wire, cl, payload, key, generated, tok)
		if err != nil {
			if ctx.Err() == nil && attempt < cl.retries {
				if err := sleep(ctx, backoff(attempt, 0)); err == nil {
					continue
				}
			}
			return false, fmt.Errorf("%w: %s (%s %s): %w", ErrCoordinatorUnreachable, cl.name, cl.method, cl.path, err)
		}
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		switch {
		case resp.StatusCode == http.StatusUnauthorized && !refreshed && co.c.bootstrap == nil:
			// The token may have been revoked or rotated: exchange a
			// fresh one, once (Caracal protocol §4.2, §5.4).
			refreshed, force = true, true
			if err := sleep(ctx, jitter(refreshJitter)); err != nil {
				return false, co.errorFor(cl, resp, body)
			}
			attempt--
			continue
		case resp.StatusCode >= 500 && attempt < cl.retries:
			ra := retryAfter(resp.Header.Get("Retry-After"), co.c.cfg.now())
			if sleep(ctx, backoff(attempt, ra)) == nil {
				continue
			}
			return false, co.errorFor(cl, resp, body)
		case resp.StatusCode >= 300:
			return false, co.errorFor(cl, resp, body)
		}
		replayed = strings.EqualFold(resp.Header.Get("Idempotency-Replayed"), "true")
		if cl.out == nil || resp.StatusCode == http.StatusNoContent {
			return replayed, nil
		}
		if err := json.Unmarshal(body, cl.out); err != nil {
			return replayed, fmt.Errorf("%w: %s (%s %s): decoding the body: %v",
				ErrInvalidResponse, cl.name, cl.method, cl.path, err)
		}
		return replayed, nil
	}
}

// send makes one attempt, bounded by the client timeout.
func (co *coordinator) send(
	ctx, wire context.Context,
	cl call,
	payload []byte,
	key string,
	generated bool,
	tok string,
) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, co.c.cfg.timeout)
	defer cancel()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, co.base+cl.path, body)
	if err != nil {
		return nil, nil, err
	}
	h := req.Header
	h.Set("Authorization", "Bearer "+tok)
	h.Set("Accept", "application/json")
	if payload != nil {
		h.Set("Content-Type", "application/json")
	}
	if key != "" {
		h.Set("Idempotency-Key", key)
		if generated {
			h.Set("Idempotency-Key-Kind", "generated")
		}
	}
	propagation.TraceContext{}.Inject(wire, propagation.HeaderCarrier(h))
	propagator.Caracal{}.Inject(wire, propagation.HeaderCarrier(h))
	resp, err := co.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, nil, err
	}
	return resp, b, nil
}

// wireContext returns the context whose span context goes on the wire:
// the client span when a tracer provider records one, else the caller's
// trace with a fresh span id, so that each call has its own (Caracal
// protocol §4.1). Without a trace, no traceparent is sent.
func wireContext(ctx context.Context, span trace.Span) context.Context {
	sc, parent := span.SpanContext(), trace.SpanContextFromContext(ctx)
	if sc.IsValid() && sc.SpanID() != parent.SpanID() {
		return ctx
	}
	return freshSpan(ctx, false)
}

// freshSpan returns ctx with the span context of its trace under a new
// random span id. A context without a trace is returned as it is, or, with
// root, given a new random trace, sampled.
func freshSpan(ctx context.Context, root bool) context.Context {
	sc := trace.SpanContextFromContext(ctx)
	cfg := trace.SpanContextConfig{
		TraceID:    sc.TraceID(),
		TraceFlags: sc.TraceFlags(),
		TraceState: sc.TraceState(),
		Remote:     true,
	}
	if !cfg.TraceID.IsValid() {
		if !root {
			return ctx
		}
		_, _ = rand.Read(cfg.TraceID[:])
		cfg.TraceFlags = trace.FlagsSampled
	}
	for !cfg.SpanID.IsValid() {
		_, _ = rand.Read(cfg.SpanID[:])
	}
	return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(cfg))
}

// errorFor builds the *CoordinatorError of an error response.
func (co *coordinator) errorFor(cl call, resp *http.Response, body []byte) error {
	e := &CoordinatorError{
		Call:       cl.name,
		Method:     cl.method,
		Path:       cl.path,
		StatusCode: resp.StatusCode,
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), co.c.cfg.now()),
		Body:       redact(string(body), maxErrorBody),
	}
	var b struct {
		Error       json.RawMessage `json:"error"`
		Description json.RawMessage `json:"error_description"`
		RequestID   json.RawMessage `json:"request_id"`
		RequestID2  json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(body, &b) == nil {
		e.Code = jsonText(b.Error)
		e.Description = jsonText(b.Description)
		e.RequestID = jsonText(b.RequestID)
		if e.RequestID == "" {
			e.RequestID = jsonText(b.RequestID2)
		}
	}
	if e.RequestID == "" {
		e.RequestID = redact(resp.Header.Get("X-Request-Id"), maxErrorField)
	}
	return e
}

// jsonText returns a JSON string's text, redacted and clipped; anything
// else gives "".
func jsonText(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return redact(s, maxErrorField)
}

// retryAfter reads Retry-After: seconds or an HTTP date; 0 when absent,
// malformed or past.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if n, err := strconv.ParseInt(h, 10, 64); err == nil {
		if n <= 0 || n > math.MaxInt64/int64(time.Second) {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff returns the wait before retry attempt+1: the server's
// Retry-After capped at 10 s, else (attempt+1) × 250 ms, plus up to
// 100 ms of jitter.
func backoff(attempt int, ra time.Duration) time.Duration {
	d := time.Duration(attempt+1) * retryStep
	if ra > 0 {
		d = min(ra, maxRetryAfter)
	}
	return d + jitter(retryJitter)
}

func jitter(d time.Duration) time.Duration { return mrand.N(d + 1) }

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// newKey returns a generated Idempotency-Key: 16 random bytes in hex.
func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// clip returns s cut to 128 bytes of valid UTF-8, for quoting caller input.
func clip(s string) string { return redact(s, 128) }

// errNotGone returns err unless it says the session is already retired.
func errNotGone(err error) error {
	var ce *CoordinatorError
	if errors.As(err, &ce) && ce.Gone() {
		return nil
	}
	return err
}
