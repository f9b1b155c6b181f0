// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor_test

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcaracal/otelcaracal/collector/caracalprocessor"
)

// written are the attributes the processor may add to a span.
var written = map[string]bool{
	kPath:                          true,
	kAttribution:                   true,
	caracalprocessor.DepthKey:      true,
	caracalprocessor.ConflictKey:   true,
	caracalprocessor.UntrustedKey:  true,
	caracalprocessor.DowngradedKey: true,
}

// TestMalformedSpans feeds spans that break the rules in each way the
// wire allows and checks that processing neither panics nor drops a span
// or an attribute the configuration does not say to drop.
func TestMalformedSpans(t *testing.T) {
	tests := []struct {
		name     string
		traceID  pcommon.TraceID
		noSpanID bool
		attrs    map[string]any
		conflict any
	}{
		{name: "no trace id", traceID: pcommon.NewTraceIDEmpty(),
			attrs: map[string]any{kSession: "s", kDelegation: "e1", kHop: 1}},
		{name: "no span id", traceID: traceID(1), noSpanID: true,
			attrs: map[string]any{kSession: "s", kDelegation: "e1", kHop: 1}},
		{name: "hop as a string", traceID: traceID(1),
			attrs: map[string]any{kSession: "s", kDelegation: "e1", kHop: "1"}},
		{name: "hop as a string that disagrees", traceID: traceID(1),
			attrs:    map[string]any{kSession: "s", kDelegation: "e1", kHop: "3"},
			conflict: "hop"},
		{name: "hop not a number", traceID: traceID(1),
			attrs:    map[string]any{kSession: "s", kDelegation: "e1", kHop: "one"},
			conflict: "malformed"},
		{name: "negative hop", traceID: traceID(1),
			attrs:    map[string]any{kSession: "s", kDelegation: "e1", kHop: -1},
			conflict: "malformed"},
		{name: "huge hop", traceID: traceID(1),
			attrs:    map[string]any{kSession: "s", kDelegation: "e1", kHop: int64(1) << 62},
			conflict: "hop"},
		{name: "hop as a fraction", traceID: traceID(1),
			attrs:    map[string]any{kSession: "s", kDelegation: "e1", kHop: 1.5},
			conflict: "malformed"},
		{name: "delegation as a number", traceID: traceID(1),
			attrs: map[string]any{kSession: "s", kDelegation: 42, kHop: 1}},
		{name: "delegation as a bool", traceID: traceID(1),
			attrs:    map[string]any{kSession: "s", kDelegation: true, kHop: 1},
			conflict: "malformed"},
		{name: "delegation as a map", traceID: traceID(1),
			attrs:    map[string]any{kDelegation: map[string]any{"id": "e1"}},
			conflict: "malformed"},
		{name: "empty delegation", traceID: traceID(1),
			attrs:    map[string]any{kSession: "s", kDelegation: "", kHop: 1},
			conflict: "malformed"},
		{name: "parent as a slice", traceID: traceID(1),
			attrs:    map[string]any{kSession: "s", kDelegation: "e1", kParent: []any{"e0"}, kHop: 1},
			conflict: "malformed"},
		{name: "session as bytes", traceID: traceID(1),
			attrs:    map[string]any{kSession: []byte("s"), kHop: 0},
			conflict: "malformed"},
		{name: "path as a string", traceID: traceID(1),
			attrs:    map[string]any{kSession: "s", kDelegation: "e1", kHop: 1, kPath: "e1"},
			conflict: "path"},
		{name: "path of numbers", traceID: traceID(1),
			attrs:    map[string]any{kSession: "s", kDelegation: "e1", kHop: 1, kPath: []any{1, 2}},
			conflict: "path"},
		{name: "depth as a string", traceID: traceID(1),
			attrs:    map[string]any{kSession: "s", kDelegation: "e1", kHop: 1, caracalprocessor.DepthKey: "1"},
			conflict: "depth"},
		{name: "attribution only", traceID: traceID(1),
			attrs: map[string]any{kAttribution: "claimed"}},
		{name: "parent without delegation", traceID: traceID(1),
			attrs:    map[string]any{kSession: "s", kParent: "e0", kHop: 0},
			conflict: "parent"},
		{name: "verified of every wrong type", traceID: traceID(1),
			attrs: map[string]any{
				kAttribution: "verified", kZone: 1, kApplication: false, kPath: map[string]any{},
				kDelegation: "e1",
			},
			conflict: "path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := newTraces()
			attrs := map[string]any{"http.route": "/x", "caracal.custom": "kept"}
			for k, v := range tt.attrs {
				attrs[k] = v
			}
			s := td.span(td.service("tool-api"), tt.traceID, "op", attrs)
			if tt.noSpanID {
				s.SetSpanID(pcommon.NewSpanIDEmpty())
			}
			in := ptrace.NewTraces()
			td.td.CopyTo(in)

			out, _ := run(t, trustingConfig("tool-api"), td.td)
			if out.SpanCount() != 1 {
				t.Fatalf("%d spans out, want 1", out.SpanCount())
			}
			got := spansByName(out)["tool-api/op"].Attributes().AsRaw()
			want := spansByName(in)["tool-api/op"].Attributes().AsRaw()
			for k, v := range want {
				if written[k] {
					continue
				}
				if !reflect.DeepEqual(got[k], v) {
					t.Errorf("%s = %#v, want it kept as %#v", k, got[k], v)
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok && !written[k] {
					t.Errorf("unexpected attribute %s", k)
				}
			}
			if c := got[caracalprocessor.ConflictKey]; !reflect.DeepEqual(c, tt.conflict) {
				t.Errorf("conflict = %#v, want %#v", c, tt.conflict)
			}
		})
	}
}

// TestEmptyBatches checks batches with nothing in them.
func TestEmptyBatches(t *testing.T) {
	for name, td := range map[string]ptrace.Traces{
		"no resource": ptrace.NewTraces(),
		"empty resource": func() ptrace.Traces {
			td := ptrace.NewTraces()
			td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
			return td
		}(),
		"empty span": func() ptrace.Traces {
			td := ptrace.NewTraces()
			td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
			return td
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			n := td.SpanCount()
			out, _ := run(t, defaultConfig(), td)
			if out.SpanCount() != n {
				t.Errorf("%d spans out, want %d", out.SpanCount(), n)
			}
		})
	}
}

// TestConcurrentBatches runs batches in parallel through one processor, as
// the Collector does, for the race detector.
func TestConcurrentBatches(t *testing.T) {
	sink := new(consumertest.TracesSink)
	p := newProcessor(t, processortest.NewNopSettings(caracalprocessor.Type),
		trustingConfig(quickstartServices...), sink)
	defer func() { _ = p.Shutdown(context.Background()) }()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				td := newTraces()
				td.quickstart(traceID(uint64(i*100 + j)))
				td.span(td.service("svc"), traceID(1), "k", map[string]any{
					"key-" + string(rune('a'+j)): "v", "auth.token": "x",
				})
				if err := p.ConsumeTraces(context.Background(), td.td); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := sink.SpanCount(); got != 8*20*10 {
		t.Errorf("%d spans out, want %d", got, 8*20*10)
	}
}

// FuzzProcessTraces decodes arbitrary bytes as an OTLP request and checks
// that processing never panics and never drops a span.
func FuzzProcessTraces(f *testing.F) {
	m := &ptrace.ProtoMarshaler{}
	td := newTraces()
	td.quickstart(traceID(1))
	seed, _ := m.MarshalTraces(td.td)
	f.Add(seed)
	seed, _ = m.MarshalTraces(secretTraces())
	f.Add(seed)
	p, err := createTraces(trustingConfig(quickstartServices...))
	if err != nil {
		f.Fatal(err)
	}
	u := &ptrace.ProtoUnmarshaler{}
	f.Fuzz(func(t *testing.T, b []byte) {
		td, err := u.UnmarshalTraces(b)
		if err != nil {
			return
		}
		n := td.SpanCount()
		if err := p.ConsumeTraces(context.Background(), td); err != nil {
			t.Fatal(err)
		}
		if td.SpanCount() != n {
			t.Fatalf("%d spans after processing, want %d", td.SpanCount(), n)
		}
	})
}
