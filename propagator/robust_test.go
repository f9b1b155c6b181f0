// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package propagator_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	otelbaggage "go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/propagator"
)

// TestEscapesWithinLimits: a header within 8192 raw bytes is read whole,
// however much its values grow when re-encoded.
func TestEscapesWithinLimits(t *testing.T) {
	var ms []string
	for i := range 6 {
		ms = append(ms, "b"+itoa(i)+"="+strings.Repeat("%", 678))
	}
	h := "caracal.agent_session=sess,caracal.delegation_edge=edge,caracal.hop=3," + strings.Join(ms, ",")
	want := baggage.Envelope{AgentSession: "sess", DelegationEdge: "edge", Hop: 3}
	for range 200 {
		ctx := propagator.Caracal{}.Extract(context.Background(), propagation.MapCarrier{"baggage": h})
		if got := baggage.FromContext(ctx); got != want || otelbaggage.FromContext(ctx).Len() != 9 {
			t.Fatalf("envelope %+v, %d members", got, otelbaggage.FromContext(ctx).Len())
		}
	}
}

// TestLastReservedWins: of duplicate keys the last wins, and a last empty
// reserved value means absent (§2.4, §2.2 step 4).
func TestLastReservedWins(t *testing.T) {
	for _, lines := range [][]string{
		{"caracal.agent_session=forged,caracal.agent_session=,caracal.hop=5,caracal.hop="},
		{"caracal.agent_session=forged,caracal.hop=5", "caracal.agent_session=,caracal.hop="},
	} {
		ctx := propagator.Caracal{}.Extract(context.Background(), propagation.HeaderCarrier(http.Header{"Baggage": lines}))
		if env := baggage.FromContext(ctx); !env.IsZero() {
			t.Errorf("%q: envelope %+v, want none", lines, env)
		}
	}
}

// TestRejectedHeaderClearsBaggage: with propagation.Baggage before Caracal,
// a header Caracal refuses whole leaves no baggage behind.
func TestRejectedHeaderClearsBaggage(t *testing.T) {
	p := propagation.NewCompositeTextMapPropagator(propagation.Baggage{}, propagator.Caracal{})
	h := "caracal.agent_session=forged,caracal.hop=9" + strings.Repeat(",", 63)
	ctx := p.Extract(context.Background(), propagation.MapCarrier{"baggage": h})
	if n := otelbaggage.FromContext(ctx).Len(); n != 0 {
		t.Errorf("%d members survive a refused header", n)
	}
}

// TestStaleSpellingsRemoved: stale envelope members under another spelling
// of the key do not survive Inject.
func TestStaleSpellingsRemoved(t *testing.T) {
	ctx := ctxWith(t, baggage.Envelope{AgentSession: "s"}, nil)
	h := http.Header{"baggage": {"caracal.delegation_edge=forged,caracal.hop=7"}}
	propagator.Caracal{}.Inject(ctx, propagation.HeaderCarrier(h))
	if len(h) != 1 || strings.Join(h["Baggage"], "|") != "caracal.agent_session=s,caracal.hop=0" {
		t.Errorf("header = %v", h)
	}
	m := propagation.MapCarrier{"Baggage": "caracal.delegation_edge=stale"}
	propagator.Caracal{}.Inject(ctx, m)
	if len(m) != 1 || m["baggage"] != "caracal.agent_session=s,caracal.hop=0" {
		t.Errorf("map = %v", m)
	}
}

// TestSpellingsDeterministic: a map carrier with one key in several cases
// is read the same way every time.
func TestSpellingsDeterministic(t *testing.T) {
	c := propagation.MapCarrier{
		"Baggage": "caracal.agent_session=a", "BAGGAGE": "caracal.agent_session=b",
		"Authorization": "Bearer one", "AUTHORIZATION": "Bearer two",
	}
	first := propagator.Caracal{}.Extract(context.Background(), c)
	for range 100 {
		ctx := propagator.Caracal{}.Extract(context.Background(), c)
		a, _ := propagator.SubjectTokenFromContext(ctx)
		b, _ := propagator.SubjectTokenFromContext(first)
		if baggage.FromContext(ctx) != baggage.FromContext(first) || a != b {
			t.Fatal("extract depends on map order")
		}
	}
}

// TestInjectFitsLimits: inbound baggage that would push the outbound
// header over the limits loses third-party members, never the envelope.
func TestInjectFitsLimits(t *testing.T) {
	var handled int
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) { handled++ }))
	t.Cleanup(func() { otel.SetErrorHandler(nil) })

	in := propagation.MapCarrier{"baggage": "note=" + strings.Repeat("(", 8000)}
	ctx := propagator.Caracal{}.Extract(context.Background(), in)
	env := baggage.Envelope{AgentSession: "s", DelegationEdge: "e", Hop: 1}
	ctx, err := baggage.ContextWithEnvelope(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		out := http.Header{}
		propagator.Caracal{}.Inject(ctx, propagation.HeaderCarrier(out))
		if v := out.Get("baggage"); len(v) > propagator.MaxBaggageBytes {
			t.Fatalf("%d-byte header", len(v))
		}
		back := propagator.Caracal{}.Extract(context.Background(), propagation.HeaderCarrier(out))
		if got := baggage.FromContext(back); got != env {
			t.Errorf("envelope lost: %+v", got)
		}
	}
	if handled > 1 {
		t.Errorf("dropping reported %d times, want once per process", handled)
	}
}

func TestBearerControlCharacters(t *testing.T) {
	for _, v := range []string{"Bearer a\nb", "Bearer a\x00", "Bearer a\x7f"} {
		if tok, ok := propagator.ParseBearer(v); ok {
			t.Errorf("ParseBearer(%q) = %q", v, tok)
		}
	}
}
