// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package propagator_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// TestTraceparentPaddedHTTP sends the padded traceparent of §10.8, and two
// baggage lines, as raw bytes to a loopback HTTP server: the server strips
// the padding, so the value is accepted as Caracal's decoder accepts it,
// and the lines arrive joined.
func TestTraceparentPaddedHTTP(t *testing.T) {
	type result struct {
		sc  trace.SpanContext
		env baggage.Envelope
		tok string
	}
	got := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := propagator.New().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		tok, _ := propagator.SubjectTokenFromContext(ctx)
		got <- result{trace.SpanContextFromContext(ctx), baggage.FromContext(ctx), tok}
	}))
	defer srv.Close()

	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n" +
		"traceparent:   00-" + tid + "-aabbccddeeff0011-01  \r\n" +
		"baggage: caracal.agent_session=sess\r\n" +
		"baggage: tenant=hooli,caracal.hop=2\r\n" +
		"authorization: BEARER   mytoken   \r\n" +
		"Connection: close\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	r := <-got
	if r.sc.TraceID().String() != tid {
		t.Errorf("trace id = %s", r.sc.TraceID())
	}
	if want := (baggage.Envelope{AgentSession: "sess", Hop: 2}); r.env != want {
		t.Errorf("envelope = %+v", r.env)
	}
	if r.tok != "mytoken" {
		t.Errorf("token = %q", r.tok)
	}
}
