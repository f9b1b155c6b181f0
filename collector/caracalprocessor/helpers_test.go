// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/otelcaracal/otelcaracal/collector/caracalprocessor"
)

// Attribute keys of the spans, as the exporter package writes them.
const (
	kSession     = "caracal.agent_session.id"
	kDelegation  = "caracal.delegation.id"
	kParent      = "caracal.delegation.parent_id"
	kRecord      = "caracal.subject.record_id"
	kHop         = "caracal.hop"
	kAttribution = "caracal.attribution"
	kZone        = "caracal.zone.id"
	kApplication = "caracal.application.id"
	kPath        = "caracal.delegation.path"
)

// traceID returns a trace id made from n.
func traceID(n uint64) pcommon.TraceID {
	var id pcommon.TraceID
	binary.BigEndian.PutUint64(id[8:], n)
	id[0] = 0x4b
	return id
}

// spanID returns a span id made from n.
func spanID(n uint64) pcommon.SpanID {
	var id pcommon.SpanID
	binary.BigEndian.PutUint64(id[:], n)
	return id
}

// traces builds ptrace.Traces one resource at a time.
type traces struct {
	td ptrace.Traces
	n  uint64
}

func newTraces() *traces { return &traces{td: ptrace.NewTraces()} }

// service adds a resource with the service name and returns its span
// slice.
func (t *traces) service(name string) ptrace.SpanSlice {
	rs := t.td.ResourceSpans().AppendEmpty()
	if name != "" {
		rs.Resource().Attributes().PutStr("service.name", name)
	}
	return rs.ScopeSpans().AppendEmpty().Spans()
}

// span adds a span of trace tid with raw attributes.
func (t *traces) span(ss ptrace.SpanSlice, tid pcommon.TraceID, name string, attrs map[string]any) ptrace.Span {
	t.n++
	s := ss.AppendEmpty()
	s.SetTraceID(tid)
	s.SetSpanID(spanID(t.n))
	s.SetName(name)
	if err := s.Attributes().FromRaw(attrs); err != nil {
		panic(err)
	}
	return s
}

// quickstart adds the spans the quickstart records for one task, in
// trace tid: the planner's are claimed, the research agent's and the
// tool's verified where a mandate was checked.
func (t *traces) quickstart(tid pcommon.TraceID) {
	planner := t.service("planner-agent")
	t.span(planner, tid, "GET /task", map[string]any{"http.request.method": "GET"})
	t.span(planner, tid, "plan task", map[string]any{
		kSession: "session-1", kHop: 0, kAttribution: "claimed",
	})
	t.span(planner, tid, "HTTP GET", map[string]any{
		kSession: "session-2", kDelegation: "edge-4", kHop: 1, kAttribution: "claimed",
	})
	research := t.service("research-agent")
	verified1 := map[string]any{
		kSession: "session-2", kDelegation: "edge-4", kRecord: "record-7", kHop: 1,
		kAttribution: "verified", kZone: "zone-test", kApplication: "app-test",
		kPath: []any{"edge-4"},
	}
	t.span(research, tid, "GET /research", verified1)
	t.span(research, tid, "research topic", verified1)
	claimed2 := map[string]any{
		kSession: "session-3", kDelegation: "edge-5", kParent: "edge-4", kRecord: "record-7",
		kHop: 2, kAttribution: "claimed",
	}
	t.span(research, tid, "fetch sources", claimed2)
	t.span(research, tid, "HTTP GET", claimed2)
	tool := t.service("tool-api")
	verified2 := map[string]any{
		kSession: "session-3", kDelegation: "edge-5", kParent: "edge-4", kRecord: "record-9",
		kHop: 2, kAttribution: "verified", kZone: "zone-test", kApplication: "app-test",
		kPath: []any{"edge-4", "edge-5"},
	}
	t.span(tool, tid, "GET /search", verified2)
	t.span(tool, tid, "query index", verified2)
}

// quickstartServices are the services of quickstart.
var quickstartServices = []string{"planner-agent", "research-agent", "tool-api"}

// defaultConfig returns the factory's default configuration.
func defaultConfig() *caracalprocessor.Config {
	return caracalprocessor.NewFactory().CreateDefaultConfig().(*caracalprocessor.Config)
}

// trustingConfig returns the default configuration trusting services.
func trustingConfig(services ...string) *caracalprocessor.Config {
	cfg := defaultConfig()
	cfg.Attribution.TrustedServices = services
	return cfg
}

// run processes td with cfg and returns what reached the next consumer
// and the processor's telemetry.
func run(t testing.TB, cfg *caracalprocessor.Config, td ptrace.Traces) (ptrace.Traces, *componenttest.Telemetry) {
	t.Helper()
	tel := componenttest.NewTelemetry()
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	set := processortest.NewNopSettings(caracalprocessor.Type)
	set.TelemetrySettings = tel.NewTelemetrySettings()
	sink := new(consumertest.TracesSink)
	p := newProcessor(t, set, cfg, sink)
	if err := p.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatalf("ConsumeTraces: %v", err)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	got := sink.AllTraces()
	if len(got) != 1 {
		t.Fatalf("next consumer got %d batches, want 1", len(got))
	}
	return got[0], tel
}

// newProcessor creates and starts a processor.
func newProcessor(
	t testing.TB,
	set processor.Settings,
	cfg *caracalprocessor.Config,
	next *consumertest.TracesSink,
) processor.Traces {
	t.Helper()
	p, err := caracalprocessor.NewFactory().CreateTraces(context.Background(), set, cfg, next)
	if err != nil {
		t.Fatalf("CreateTraces: %v", err)
	}
	if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return p
}

// spansByName returns the spans of td by service and name: "svc/name".
// A name used twice keeps the last span.
func spansByName(td ptrace.Traces) map[string]ptrace.Span {
	out := map[string]ptrace.Span{}
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		svc := ""
		if v, ok := rss.At(i).Resource().Attributes().Get("service.name"); ok {
			svc = v.AsString()
		}
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			spans := sss.At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				out[svc+"/"+spans.At(k).Name()] = spans.At(k)
			}
		}
	}
	return out
}

// attr returns the attribute k of s as a raw Go value, or nil.
func attr(s ptrace.Span, k string) any {
	v, ok := s.Attributes().Get(k)
	if !ok {
		return nil
	}
	return v.AsRaw()
}

// counter returns the sum of the metric name over the series whose
// attributes include want.
func counter(t testing.TB, tel *componenttest.Telemetry, name string, want map[string]string) int64 {
	t.Helper()
	m, err := tel.GetMetric(name)
	if err != nil {
		return 0
	}
	return sumInt64(m, want)
}

func sumInt64(m metricdata.Metrics, want map[string]string) int64 {
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		return 0
	}
	var total int64
	for _, dp := range sum.DataPoints {
		match := true
		for k, v := range want {
			got, ok := dp.Attributes.Value(attribute.Key(k))
			match = match && ok && got.AsString() == v
		}
		if match {
			total += dp.Value
		}
	}
	return total
}

func fmtAny(v any) string { return fmt.Sprint(v) }
