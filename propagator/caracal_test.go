// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package propagator_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	otelbaggage "go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/propagator"
)

func readJSON(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// baggageMap returns every member of the baggage of ctx.
func baggageMap(ctx context.Context) map[string]string {
	out := map[string]string{}
	for _, m := range otelbaggage.FromContext(ctx).Members() {
		out[m.Key()] = m.Value()
	}
	return out
}

// thirdParty returns the members of the baggage of ctx that are not
// reserved envelope keys.
func thirdParty(ctx context.Context) map[string]string {
	out := baggageMap(ctx)
	maps.DeleteFunc(out, func(k, _ string) bool { return baggage.IsReserved(k) })
	return out
}

func ctxWith(t testing.TB, env baggage.Envelope, extras map[string]string) context.Context {
	t.Helper()
	ctx := context.Background()
	for k, v := range extras {
		var err error
		if ctx, err = baggage.ContextWithMember(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	ctx, err := baggage.ContextWithEnvelope(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func TestExtractFixture(t *testing.T) {
	h := readJSON(t, fixtureHeaders)
	carriers := map[string]propagation.TextMapCarrier{
		"map": propagation.MapCarrier(h),
		"http": func() propagation.TextMapCarrier {
			hdr := http.Header{}
			for k, v := range h {
				hdr.Set(k, v)
			}
			return propagation.HeaderCarrier(hdr)
		}(),
	}
	for name, c := range carriers {
		t.Run(name, func(t *testing.T) {
			ctx := propagator.New().Extract(context.Background(), c)
			if got := baggage.FromContext(ctx); got != fixtureEnvelope {
				t.Errorf("envelope = %+v, want %+v", got, fixtureEnvelope)
			}
			sc := trace.SpanContextFromContext(ctx)
			if sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.TraceFlags() != 1 {
				t.Errorf("trace = %s/%s", sc.TraceID(), sc.TraceFlags())
			}
			if got := sc.TraceState().String(); got != "vendor=value" {
				t.Errorf("tracestate = %q", got)
			}
			if got := thirdParty(ctx); !maps.Equal(got, map[string]string{"tenant": "example"}) {
				t.Errorf("third-party = %v", got)
			}
			if _, ok := propagator.SubjectTokenFromContext(ctx); ok {
				t.Error("subject token without Authorization")
			}
		})
	}
}

func TestInjectFixture(t *testing.T) {
	m := readJSON(t, fixtureBaggage)
	ms := make([]otelbaggage.Member, 0, len(m))
	for k, v := range m {
		mem, err := otelbaggage.NewMemberRaw(k, v)
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, mem)
	}
	b, err := otelbaggage.New(ms...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := otelbaggage.ContextWithBaggage(context.Background(), b)
	if got := baggage.FromContext(ctx); got != fixtureEnvelope {
		t.Errorf("envelope = %+v", got)
	}
	c := propagation.MapCarrier{}
	propagator.Caracal{}.Inject(ctx, c)
	if got := c.Get("baggage"); got != fixtureEncoded {
		t.Errorf("baggage =\n%s\nwant\n%s", got, fixtureEncoded)
	}
}

func TestExtractBaggage(t *testing.T) {
	for _, v := range parseVectors {
		t.Run(v.name, func(t *testing.T) {
			h := http.Header{"Baggage": v.lines}
			ctx := propagator.Caracal{}.Extract(context.Background(), propagation.HeaderCarrier(h))
			if got := baggageMap(ctx); !maps.Equal(got, v.want) {
				t.Errorf("got %v\nwant %v", trim(got), trim(v.want))
			}
		})
	}
}

func trim(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		out[k] = v
	}
	return out
}

func TestInjectBaggage(t *testing.T) {
	for _, v := range encodeVectors {
		t.Run(v.name, func(t *testing.T) {
			var ms []otelbaggage.Member
			for k, val := range v.members {
				m, err := otelbaggage.NewMemberRaw(k, val)
				if err != nil {
					t.Fatal(err)
				}
				ms = append(ms, m)
			}
			b, err := otelbaggage.New(ms...)
			if err != nil {
				t.Fatal(err)
			}
			c := propagation.MapCarrier{}
			propagator.Caracal{}.Inject(otelbaggage.ContextWithBaggage(context.Background(), b), c)
			if got, ok := c["baggage"]; got != v.want || ok != (v.want != "") {
				t.Errorf("baggage = %q (set %v), want %q", got, ok, v.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	values := []string{"a b", "a+b", "✓", "a b%c,d=e", "50%", "x;y", `"q"`, "tab\there", "%zz", ""}
	for _, v := range values {
		t.Run(v, func(t *testing.T) {
			ctx := ctxWith(t, baggage.Envelope{AgentSession: v, Hop: 1}, map[string]string{"k": v})
			h := http.Header{}
			propagator.Caracal{}.Inject(ctx, propagation.HeaderCarrier(h))
			if strings.Contains(h.Get("baggage"), "+") {
				t.Errorf("header %q has a raw '+'", h.Get("baggage"))
			}
			out := propagator.Caracal{}.Extract(context.Background(), propagation.HeaderCarrier(h))
			if got := baggage.FromContext(out).AgentSession; got != v {
				t.Errorf("session = %q, want %q", got, v)
			}
			if got := otelbaggage.FromContext(out).Member("k").Value(); got != v {
				t.Errorf("k = %q, want %q", got, v)
			}
		})
	}
	h := http.Header{}
	ctx := ctxWith(t, baggage.Envelope{}, map[string]string{"k": "a b"})
	propagator.Caracal{}.Inject(ctx, propagation.HeaderCarrier(h))
	if got := h.Get("baggage"); got != "k=a%20b" {
		t.Errorf("space encoded as %q, want k=a%%20b", got)
	}
}

func TestInjectEnvelope(t *testing.T) {
	for _, v := range envelopeVectors {
		t.Run(v.name, func(t *testing.T) {
			ctx := ctxWith(t, v.env, v.extras)
			var span string
			if v.traceID != "" {
				sc := remoteSpan(t, v.traceID, v.flags, v.state)
				span = sc.SpanID().String()
				ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
			}
			ctx = propagator.ContextWithSubjectToken(ctx, "tok")
			c := propagation.MapCarrier{}
			propagator.New().Inject(ctx, c)
			want := map[string]string{}
			if v.wantTP != "" {
				want["traceparent"] = strings.ReplaceAll(v.wantTP, "<span>", span)
			}
			if v.wantTS != "" {
				want["tracestate"] = v.wantTS
			}
			if v.wantBagg != "" {
				want["baggage"] = v.wantBagg
			}
			if !maps.Equal(map[string]string(c), want) {
				t.Errorf("carrier = %v\nwant %v", c, want)
			}
		})
	}
}

func remoteSpan(t *testing.T, traceID, flags, state string) trace.SpanContext {
	t.Helper()
	c := propagation.MapCarrier{
		"traceparent": "00-" + traceID + "-00f067aa0ba902b7-" + flags,
		"tracestate":  state,
	}
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), c))
	if !sc.IsValid() {
		t.Fatalf("invalid span context from %v", c)
	}
	return sc
}

// TestInjectMerge is §10.6: a request that already has baggage keeps its
// third-party members, over the context's, and loses stale envelope ones.
func TestInjectMerge(t *testing.T) {
	ctx := ctxWith(t, baggage.Envelope{AgentSession: "sess", Hop: 2}, map[string]string{"tenant": "env", "x": "1"})
	h := http.Header{}
	h.Set("baggage", "tenant=hooli,caracal.hop=9,caracal.delegation_edge=stale")
	propagator.Caracal{}.Inject(ctx, propagation.HeaderCarrier(h))
	want := []string{"caracal.agent_session=sess,caracal.hop=2,tenant=hooli,x=1"}
	if got := h.Values("baggage"); !equal(got, want) {
		t.Errorf("baggage = %q, want %q", got, want)
	}

	// Nothing left to send: the stale header is removed, not kept.
	h = http.Header{"Baggage": {"caracal.delegation_edge=stale"}}
	propagator.Caracal{}.Inject(context.Background(), propagation.HeaderCarrier(h))
	if v, ok := h["Baggage"]; ok {
		t.Errorf("stale header kept: %q", v)
	}
	m := propagation.MapCarrier{"baggage": "caracal.hop=4"}
	propagator.Caracal{}.Inject(context.Background(), m)
	if m["baggage"] != "" {
		t.Errorf("stale map value kept: %q", m["baggage"])
	}
}

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func TestBearer(t *testing.T) {
	for _, v := range bearerVectors {
		t.Run(v.name, func(t *testing.T) {
			for name, c := range map[string]propagation.TextMapCarrier{
				"http":      propagation.HeaderCarrier(http.Header{"Authorization": {v.value}}),
				"map lower": propagation.MapCarrier{"authorization": v.value},
				"map upper": propagation.MapCarrier{"AUTHORIZATION": v.value},
			} {
				ctx := propagator.Caracal{}.Extract(context.Background(), c)
				tok, ok := propagator.SubjectTokenFromContext(ctx)
				if tok != v.token || ok != v.ok {
					t.Errorf("%s: token = %q %v, want %q %v", name, tok, ok, v.token, v.ok)
				}
				if strings.Contains(otelbaggage.FromContext(ctx).String(), "tok") && v.ok {
					t.Errorf("%s: token in baggage", name)
				}
			}
		})
	}
}

func TestInjectNeverWritesAuthorization(t *testing.T) {
	ctx := ctxWith(t, baggage.Envelope{Hop: 1}, nil)
	ctx = propagator.ContextWithSubjectToken(ctx, "tok")
	c := propagation.MapCarrier{}
	propagator.New().Inject(ctx, c)
	if !maps.Equal(map[string]string(c), map[string]string{"baggage": "caracal.hop=1"}) {
		t.Errorf("carrier = %v", c)
	}
}

func TestTraceparent(t *testing.T) {
	for _, v := range traceparentVectors {
		t.Run(v.name, func(t *testing.T) {
			c := propagation.MapCarrier{"traceparent": v.value, "baggage": "caracal.hop=1"}
			ctx := propagator.New().Extract(context.Background(), c)
			sc := trace.SpanContextFromContext(ctx)
			if v.traceID == "" {
				if sc.IsValid() {
					t.Errorf("accepted %q", v.value)
				}
			} else if sc.TraceID().String() != v.traceID || sc.TraceFlags().String() != v.flags {
				t.Errorf("trace = %s/%s", sc.TraceID(), sc.TraceFlags())
			}
			// The rest of the envelope decodes whatever the traceparent.
			if baggage.FromContext(ctx).Hop != 1 {
				t.Error("envelope lost with traceparent")
			}
		})
	}
}

func TestHop(t *testing.T) {
	for _, v := range hopVectors {
		t.Run(v.raw, func(t *testing.T) {
			c := propagation.MapCarrier{"baggage": "caracal.hop=" + v.raw + ",caracal.agent_session=s"}
			ctx := propagator.Caracal{}.Extract(context.Background(), c)
			if got := baggage.FromContext(ctx).Hop; got != v.hop {
				t.Errorf("hop = %d, want %d", got, v.hop)
			}
			if got := baggage.ParseHop(v.raw); got != v.hop {
				t.Errorf("ParseHop = %d, want %d", got, v.hop)
			}
		})
	}
}

// TestTolerantBesideOTel runs headers with one malformed member through
// Caracal and through OpenTelemetry's Baggage propagator.
func TestTolerantBesideOTel(t *testing.T) {
	var handled int
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) { handled++ }))
	t.Cleanup(func() { otel.SetErrorHandler(nil) })

	env := "caracal.agent_session=s,caracal.hop=1,tenant=t"
	for _, tc := range []struct {
		name, bad string
		want      map[string]string // Caracal's extra members beyond env
	}{
		{"no equals", "noequal", nil},
		{"empty key", "=v", nil},
		{"non-token key", "ex.com/foo=1", nil},
		{"bad escape", "k=broken%zz", map[string]string{"k": "broken%zz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Baggage": {tc.bad + "," + env}}
			ctx := propagator.Caracal{}.Extract(context.Background(), propagation.HeaderCarrier(h))
			want := map[string]string{"caracal.agent_session": "s", "caracal.hop": "1", "tenant": "t"}
			maps.Copy(want, tc.want)
			if got := baggageMap(ctx); !maps.Equal(got, want) {
				t.Errorf("caracal: %v, want %v", got, want)
			}
			otelCtx := propagation.Baggage{}.Extract(context.Background(), propagation.HeaderCarrier(h))
			t.Logf("otel Baggage keeps %v", baggageMap(otelCtx))
			if tc.bad == "k=broken%zz" && otelbaggage.FromContext(otelCtx).Member("k").Value() == "broken%zz" {
				t.Error("otel Baggage now keeps a bad escape; update the package doc")
			}
		})
	}
	before := handled
	h := http.Header{"Baggage": {"noequal,k=broken%zz,ex.com/foo=1"}}
	for range 100 {
		propagator.New().Extract(context.Background(), propagation.HeaderCarrier(h))
	}
	if handled != before {
		t.Errorf("Caracal reported %d errors through otel.Handle, want none", handled-before)
	}
}

// TestOversizeNoWork shows an oversized header is refused before it is
// split: extracting 1 MB allocates no more than extracting 8193 bytes, and
// leaves no baggage.
func TestOversizeNoWork(t *testing.T) {
	allocs := func(size int) float64 {
		c := propagation.HeaderCarrier(http.Header{"Baggage": {"k=" + strings.Repeat("v", size-2)}})
		var ctx context.Context
		n := testing.AllocsPerRun(20, func() { ctx = propagator.Caracal{}.Extract(context.Background(), c) })
		if otelbaggage.FromContext(ctx).Len() != 0 {
			t.Errorf("%d-byte header extracted", size)
		}
		return n
	}
	if small, big := allocs(8193), allocs(1<<20); big != small {
		t.Errorf("1 MB header: %v allocations, 8193 bytes: %v", big, small)
	}
}

// TestBesideOTelBaggage: a user who keeps propagation.Baggage in the
// composite, before Caracal, gets the same headers and context.
func TestBesideOTelBaggage(t *testing.T) {
	withOTel := propagation.NewCompositeTextMapPropagator(
		propagation.TraceContext{}, propagation.Baggage{}, propagator.Caracal{})
	h := readJSON(t, fixtureHeaders)
	h["baggage"] += ",k=a%20b%2Cc,bad%zz=1"

	ours := propagator.New().Extract(context.Background(), propagation.MapCarrier(h))
	both := withOTel.Extract(context.Background(), propagation.MapCarrier(h))
	if a, b := baggageMap(ours), baggageMap(both); !maps.Equal(a, b) {
		t.Errorf("extract differs:\n%v\n%v", a, b)
	}
	ca, cb := propagation.MapCarrier{}, propagation.MapCarrier{}
	propagator.New().Inject(ours, ca)
	withOTel.Inject(both, cb)
	if !maps.Equal(ca, cb) {
		t.Errorf("inject differs:\n%v\n%v", ca, cb)
	}
}

func TestAutoprop(t *testing.T) {
	ctx := ctxWith(t, baggage.Envelope{AgentSession: "s"}, nil)
	want := "caracal.agent_session=s,caracal.hop=0"

	t.Setenv("OTEL_PROPAGATORS", "tracecontext,caracal")
	c := propagation.MapCarrier{}
	autoprop.NewTextMapPropagator().Inject(ctx, c)
	if c["baggage"] != want {
		t.Errorf("autoprop: baggage = %q", c["baggage"])
	}

	// autoprop does not trim names; FromEnv does.
	t.Setenv("OTEL_PROPAGATORS", "tracecontext, caracal")
	p, err := propagator.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	c = propagation.MapCarrier{}
	p.Inject(ctx, c)
	if c["baggage"] != want {
		t.Errorf("FromEnv: baggage = %q", c["baggage"])
	}

	t.Setenv("OTEL_PROPAGATORS", " ")
	if p, err = propagator.FromEnv(); err != nil || !equal(sorted(p.Fields()), sorted(propagator.New().Fields())) {
		t.Errorf("blank: %v %v", p.Fields(), err)
	}
	t.Setenv("OTEL_PROPAGATORS", "tracecontext,nosuch")
	if p, err = propagator.FromEnv(); err == nil || p == nil {
		t.Errorf("unknown name: %v %v", p, err)
	}
}

func TestFields(t *testing.T) {
	if got := (propagator.Caracal{}).Fields(); !equal(got, []string{"baggage"}) {
		t.Errorf("Fields = %v", got)
	}
}
