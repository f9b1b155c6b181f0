// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/attributesprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/otelcaracal/otelcaracal/collector/caracalprocessor"
)

// benchSpans is the batch size of the benchmarks.
const benchSpans = 1000

// benchBatch returns benchSpans spans in traces of 10 spans shaped like
// the quickstart's, each with the HTTP attributes otelhttp records: 12 to
// 16 attributes a span, half of them without a delegation path.
func benchBatch() ptrace.Traces {
	t := newTraces()
	http := func(m map[string]any) map[string]any {
		m["http.request.method"] = "GET"
		m["url.path"] = "/research"
		m["server.address"] = "127.0.0.1"
		m["server.port"] = 41234
		m["http.response.status_code"] = 200
		m["network.protocol.version"] = "1.1"
		m["user_agent.original"] = "Go-http-client/1.1"
		return m
	}
	for i := 0; t.td.SpanCount() < benchSpans; i++ {
		tid := traceID(uint64(i + 1))
		planner := t.service("planner-agent")
		t.span(planner, tid, "plan task", http(map[string]any{
			kSession: "session-1", kHop: 0, kAttribution: "claimed",
		}))
		t.span(planner, tid, "HTTP GET", http(map[string]any{
			kSession: "session-2", kDelegation: fmt.Sprintf("edge-%d-a", i), kHop: 1,
			kAttribution: "claimed",
		}))
		research := t.service("research-agent")
		for range 2 {
			t.span(research, tid, "research topic", http(map[string]any{
				kSession: "session-2", kDelegation: fmt.Sprintf("edge-%d-a", i), kRecord: "record-7",
				kHop: 1, kAttribution: "verified", kZone: "zone-test", kApplication: "app-test",
				kPath: []any{fmt.Sprintf("edge-%d-a", i)},
			}))
		}
		for range 3 {
			t.span(research, tid, "fetch sources", http(map[string]any{
				kSession: "session-3", kDelegation: fmt.Sprintf("edge-%d-b", i),
				kParent: fmt.Sprintf("edge-%d-a", i), kRecord: "record-7", kHop: 2,
				kAttribution: "claimed",
			}))
		}
		tool := t.service("tool-api")
		for range 3 {
			t.span(tool, tid, "query index", http(map[string]any{
				kSession: "session-3", kDelegation: fmt.Sprintf("edge-%d-b", i),
				kParent: fmt.Sprintf("edge-%d-a", i), kRecord: "record-9", kHop: 2,
				kAttribution: "verified", kZone: "zone-test", kApplication: "app-test",
				kPath: []any{fmt.Sprintf("edge-%d-a", i), fmt.Sprintf("edge-%d-b", i)},
			}))
		}
	}
	return t.td
}

// claimedBatch returns benchSpans spans in traces of 10, each trace a
// chain of two delegations as in the quickstart, every span claimed and
// without path or depth, so that the caracal processor writes exactly two
// attributes on each, as many as BenchmarkAttributes inserts.
func claimedBatch() ptrace.Traces {
	t := newTraces()
	for i := 0; t.td.SpanCount() < benchSpans; i++ {
		tid := traceID(uint64(i + 1))
		ss := t.service("research-agent")
		for j := range 10 {
			attrs := map[string]any{
				"http.request.method": "GET", "url.path": "/research",
				"server.address": "127.0.0.1", "server.port": 41234,
				"http.response.status_code": 200, "network.protocol.version": "1.1",
				"user_agent.original": "Go-http-client/1.1",
				kSession:              "session-2", kDelegation: fmt.Sprintf("edge-%d-a", i), kHop: 1,
				kAttribution: "claimed", kRecord: "record-7",
			}
			if j >= 5 {
				attrs[kSession] = "session-3"
				attrs[kDelegation] = fmt.Sprintf("edge-%d-b", i)
				attrs[kParent] = fmt.Sprintf("edge-%d-a", i)
				attrs[kHop] = 2
			}
			t.span(ss, tid, "fetch sources", attrs)
		}
	}
	return t.td
}

// benchmark consumes a fresh copy of batch with p b.N times and reports
// spans per second; run with -cpu 1 for spans per second per core.
func benchmark(b *testing.B, p consumer.Traces, batch ptrace.Traces) {
	ctx := context.Background()
	td := ptrace.NewTraces()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		td = ptrace.NewTraces()
		batch.CopyTo(td)
		b.StartTimer()
		if err := p.ConsumeTraces(ctx, td); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(benchSpans)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
}

// benchBatches are the batches of the benchmarks, by name.
var benchBatches = []struct {
	name  string
	batch func() ptrace.Traces
}{
	{"quickstart", benchBatch},
	{"claimed", claimedBatch},
}

// BenchmarkCaracal is the caracal processor: every attribute checked for
// credentials, the attribution policy, and path and depth written where
// absent.
func BenchmarkCaracal(b *testing.B) {
	cfg := trustingConfig(quickstartServices...)
	set := processortest.NewNopSettings(caracalprocessor.Type)
	p, err := caracalprocessor.NewFactory().CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	for _, bb := range benchBatches {
		b.Run(bb.name, func(b *testing.B) { benchmark(b, p, bb.batch()) })
	}
}

// BenchmarkAttributes is the contrib attributes processor on the same
// batches, inserting two attributes, a path and a depth, on every span
// that lacks them.
func BenchmarkAttributes(b *testing.B) {
	f := attributesprocessor.NewFactory()
	cfg := f.CreateDefaultConfig()
	conf := confmap.NewFromStringMap(map[string]any{
		"actions": []any{
			map[string]any{"key": kPath, "value": []any{"edge-1", "edge-2"}, "action": "insert"},
			map[string]any{"key": caracalprocessor.DepthKey, "value": 2, "action": "insert"},
		},
	})
	if err := conf.Unmarshal(cfg); err != nil {
		b.Fatal(err)
	}
	set := processortest.NewNopSettings(component.MustNewType("attributes"))
	var p processor.Traces
	p, err := f.CreateTraces(context.Background(), set, cfg, consumertest.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	for _, bb := range benchBatches {
		b.Run(bb.name, func(b *testing.B) { benchmark(b, p, bb.batch()) })
	}
}

// BenchmarkAdversarialValue processes one span whose value is a long run
// of "eyJ" or of "a\t": the time per byte stays flat as the value grows.
func BenchmarkAdversarialValue(b *testing.B) {
	for _, pattern := range []string{"eyJ", "a\t"} {
		for _, size := range []int{64 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("%q/%dKiB", pattern, size>>10), func(b *testing.B) {
				v := strings.Repeat(pattern, size/len(pattern))
				set := processortest.NewNopSettings(caracalprocessor.Type)
				p, err := caracalprocessor.NewFactory().CreateTraces(context.Background(), set,
					defaultConfig(), consumertest.NewNop())
				if err != nil {
					b.Fatal(err)
				}
				b.SetBytes(int64(size))
				for b.Loop() {
					td := ptrace.NewTraces()
					td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().
						Attributes().PutStr("note", v)
					if err := p.ConsumeTraces(context.Background(), td); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
