// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor_test

import (
	"reflect"
	"testing"

	"github.com/otelcaracal/otelcaracal/collector/caracalprocessor"
)

// TestQuickstartChains checks the trace the quickstart records: every
// attributed span gets the path and depth of its delegation, and nothing
// conflicts.
func TestQuickstartChains(t *testing.T) {
	td := newTraces()
	td.quickstart(traceID(1))
	out, tel := run(t, trustingConfig(quickstartServices...), td.td)
	spans := spansByName(out)
	tests := []struct {
		span  string
		path  any
		depth any
	}{
		{"planner-agent/GET /task", nil, nil},
		{"planner-agent/plan task", nil, int64(0)},
		{"planner-agent/HTTP GET", []any{"edge-4"}, int64(1)},
		{"research-agent/research topic", []any{"edge-4"}, int64(1)},
		{"research-agent/fetch sources", []any{"edge-4", "edge-5"}, int64(2)},
		{"research-agent/HTTP GET", []any{"edge-4", "edge-5"}, int64(2)},
		{"tool-api/query index", []any{"edge-4", "edge-5"}, int64(2)},
	}
	for _, tt := range tests {
		s, ok := spans[tt.span]
		if !ok {
			t.Fatalf("no span %s", tt.span)
		}
		if got := attr(s, kPath); !reflect.DeepEqual(got, tt.path) {
			t.Errorf("%s: path = %v, want %v", tt.span, got, tt.path)
		}
		if got := attr(s, caracalprocessor.DepthKey); !reflect.DeepEqual(got, tt.depth) {
			t.Errorf("%s: depth = %v, want %v", tt.span, got, tt.depth)
		}
		for _, k := range []string{caracalprocessor.ConflictKey, caracalprocessor.DowngradedKey,
			caracalprocessor.UntrustedKey} {
			if v := attr(s, k); v != nil {
				t.Errorf("%s: %s = %v", tt.span, k, v)
			}
		}
	}
	if got := attr(spans["tool-api/query index"], kAttribution); got != "verified" {
		t.Errorf("tool span attribution = %v, want verified", got)
	}
	// 8 attributed spans, each given a depth.
	if n := counter(t, tel, caracalprocessor.MetricChainsCompleted, nil); n != 8 {
		t.Errorf("%s = %d, want 8", caracalprocessor.MetricChainsCompleted, n)
	}
}

func TestChainConflicts(t *testing.T) {
	type span struct {
		service string
		name    string
		attrs   map[string]any
	}
	claimed := func(session, edge, parent string, hop any) map[string]any {
		m := map[string]any{kSession: session, kDelegation: edge, kHop: hop, kAttribution: "claimed"}
		if parent != "" {
			m[kParent] = parent
		}
		return m
	}
	verified := func(edge, parent string, path ...any) map[string]any {
		m := claimed("s", edge, parent, len(path))
		m[kAttribution] = "verified"
		m[kZone], m[kApplication], m[kPath] = "z", "a", path
		return m
	}
	tests := []struct {
		name     string
		spans    []span
		conflict map[string]any // span name: ConflictKey
		path     map[string]any // span name: path
	}{
		{
			name: "hop disagrees with the chain",
			spans: []span{
				{"planner-agent", "root", claimed("s1", "e1", "", 1)},
				{"research-agent", "child", claimed("s2", "e2", "e1", 5)},
			},
			conflict: map[string]any{"root": nil, "child": "hop"},
			path:     map[string]any{"child": []any{"e1", "e2"}},
		},
		{
			name: "claimed parent disagrees with a verified path",
			spans: []span{
				{"tool-api", "verified", verified("e2", "e1", "e1", "e2")},
				{"research-agent", "claim", claimed("s2", "e2", "forged", 2)},
				{"planner-agent", "root", claimed("s1", "e1", "", 1)},
			},
			conflict: map[string]any{"verified": nil, "claim": "parent", "root": nil},
			path:     map[string]any{"claim": []any{"e1", "e2"}},
		},
		{
			name: "claimed path disagrees",
			spans: []span{
				{"planner-agent", "root", claimed("s1", "e1", "", 1)},
				{"research-agent", "child", func() map[string]any {
					m := claimed("s2", "e2", "e1", 2)
					m[kPath] = []any{"e0", "e2"}
					return m
				}()},
			},
			conflict: map[string]any{"child": "path"},
			path:     map[string]any{"child": []any{"e0", "e2"}},
		},
		{
			name: "session span with a hop",
			spans: []span{
				{"planner-agent", "session", map[string]any{kSession: "s1", kHop: 3, kAttribution: "claimed"}},
			},
			conflict: map[string]any{"session": "hop"},
		},
		{
			name: "cycle of parent edges",
			spans: []span{
				{"planner-agent", "a", claimed("s1", "e1", "e2", 1)},
				{"research-agent", "b", claimed("s2", "e2", "e1", 2)},
			},
			conflict: map[string]any{"a": "cycle", "b": "cycle"},
			path:     map[string]any{"a": nil, "b": nil},
		},
		{
			name: "self parent",
			spans: []span{
				{"planner-agent", "a", claimed("s1", "e1", "e1", 1)},
			},
			conflict: map[string]any{"a": "cycle"},
		},
		{
			name: "deeper than the hop limit",
			spans: func() []span {
				var out []span
				parent := ""
				for i := range 12 {
					edge := "e" + string(rune('a'+i))
					out = append(out, span{"planner-agent", edge, claimed("s", edge, parent, i+1)})
					parent = edge
				}
				return out
			}(),
			conflict: map[string]any{"ea": nil, "ej": nil, "ek": "depth", "el": "depth"},
			path:     map[string]any{"eb": []any{"ea", "eb"}, "el": nil},
		},
		{
			name: "partial trace: parent edge not in the batch",
			spans: []span{
				{"tool-api", "orphan", claimed("s3", "e5", "e4", 2)},
			},
			conflict: map[string]any{"orphan": nil},
			path:     map[string]any{"orphan": nil},
		},
		{
			name: "partial trace completed by a verified path",
			spans: []span{
				{"tool-api", "verified", verified("e5", "e4", "e4", "e5")},
				{"research-agent", "claim", claimed("s3", "e5", "e4", 2)},
			},
			conflict: map[string]any{"claim": nil},
			path:     map[string]any{"claim": []any{"e4", "e5"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := newTraces()
			for _, s := range tt.spans {
				td.span(td.service(s.service), traceID(7), s.name, s.attrs)
			}
			out, _ := run(t, trustingConfig(quickstartServices...), td.td)
			byName := map[string]map[string]any{}
			for _, s := range spansByName(out) {
				byName[s.Name()] = s.Attributes().AsRaw()
			}
			for name, want := range tt.conflict {
				if got := byName[name][caracalprocessor.ConflictKey]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s: conflict = %#v, want %#v", name, got, want)
				}
			}
			for name, want := range tt.path {
				if got := byName[name][kPath]; !reflect.DeepEqual(got, want) {
					t.Errorf("%s: path = %#v, want %#v", name, got, want)
				}
			}
		})
	}
}

// TestPartialMetric checks that spans whose chain is cut are counted, and
// that chains stay within a trace.
func TestPartialMetric(t *testing.T) {
	td := newTraces()
	ss := td.service("tool-api")
	td.span(ss, traceID(1), "root", map[string]any{kSession: "s", kDelegation: "e1", kHop: 1})
	// Same edges, another trace: e1 is not known there.
	td.span(ss, traceID(2), "child", map[string]any{kSession: "s", kDelegation: "e2", kParent: "e1", kHop: 2})
	out, tel := run(t, trustingConfig("tool-api"), td.td)
	if n := counter(t, tel, caracalprocessor.MetricChainsPartial, nil); n != 1 {
		t.Errorf("%s = %d, want 1", caracalprocessor.MetricChainsPartial, n)
	}
	if p := attr(spansByName(out)["tool-api/child"], kPath); p != nil {
		t.Errorf("a chain crossed traces: path %v", p)
	}
}

// TestChainsDisabled checks that chains.enabled false writes nothing.
func TestChainsDisabled(t *testing.T) {
	cfg := trustingConfig(quickstartServices...)
	cfg.Chains.Enabled = false
	td := newTraces()
	td.quickstart(traceID(1))
	out, _ := run(t, cfg, td.td)
	for name, s := range spansByName(out) {
		if d := attr(s, caracalprocessor.DepthKey); d != nil {
			t.Errorf("%s: depth %v written with chains disabled", name, d)
		}
	}
}
