// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor_test

import (
	"reflect"
	"testing"

	"github.com/otelcaracal/otelcaracal/collector/caracalprocessor"
)

// verifiedAttrs are the attributes of a span whose mandate was verified,
// one hop deep.
func verifiedAttrs() map[string]any {
	return map[string]any{
		kSession: "session-2", kDelegation: "edge-4", kHop: 1, kAttribution: "verified",
		kZone: "zone-test", kApplication: "app-test", kPath: []any{"edge-4"},
	}
}

func TestAttributionPolicy(t *testing.T) {
	without := func(k string) map[string]any {
		m := verifiedAttrs()
		delete(m, k)
		return m
	}
	with := func(k string, v any) map[string]any {
		m := verifiedAttrs()
		m[k] = v
		return m
	}
	claimed := map[string]any{kSession: "session-1", kHop: 0, kAttribution: "claimed"}

	tests := []struct {
		name      string
		service   string
		attrs     map[string]any
		untrusted string // untrusted_claims
		want      map[string]any
		metric    string
	}{
		{
			name: "verified from a trusted service stands", service: "tool-api",
			attrs: verifiedAttrs(),
			want:  map[string]any{kAttribution: "verified", caracalprocessor.DowngradedKey: nil},
		},
		{
			name: "verified from an untrusted service", service: "rogue",
			attrs: verifiedAttrs(),
			want: map[string]any{
				kAttribution: "claimed", caracalprocessor.DowngradedKey: "untrusted_service",
				caracalprocessor.UntrustedKey: true, kZone: "zone-test",
			},
			metric: caracalprocessor.MetricAttributionDowngraded,
		},
		{
			name: "verified without zone", service: "tool-api",
			attrs: without(kZone),
			want: map[string]any{
				kAttribution: "claimed", caracalprocessor.DowngradedKey: "missing_signed_claims",
				caracalprocessor.UntrustedKey: nil,
			},
			metric: caracalprocessor.MetricAttributionDowngraded,
		},
		{
			name: "verified without application", service: "tool-api",
			attrs: without(kApplication),
			want:  map[string]any{kAttribution: "claimed", caracalprocessor.DowngradedKey: "missing_signed_claims"},
		},
		{
			name: "verified alone", service: "tool-api",
			attrs: map[string]any{kAttribution: "verified"},
			want:  map[string]any{kAttribution: "claimed", caracalprocessor.DowngradedKey: "missing_signed_claims"},
		},
		{
			name: "verified with a path for another delegation", service: "tool-api",
			attrs: with(kPath, []any{"edge-9"}),
			want:  map[string]any{kAttribution: "claimed", caracalprocessor.DowngradedKey: "inconsistent_claims"},
		},
		{
			name: "verified with an empty zone", service: "tool-api",
			attrs: with(kZone, ""),
			want:  map[string]any{kAttribution: "claimed", caracalprocessor.DowngradedKey: "missing_signed_claims"},
		},
		{
			name: "unknown attribution value", service: "tool-api",
			attrs: with(kAttribution, "trusted"),
			want:  map[string]any{kAttribution: "claimed", caracalprocessor.DowngradedKey: "invalid_value"},
		},
		{
			name: "attribution of the wrong type", service: "tool-api",
			attrs: with(kAttribution, true),
			want:  map[string]any{kAttribution: "claimed", caracalprocessor.DowngradedKey: "invalid_value"},
		},
		{
			name: "claimed from a trusted service", service: "planner-agent",
			attrs: claimed,
			want:  map[string]any{kAttribution: "claimed", caracalprocessor.UntrustedKey: nil},
		},
		{
			name: "claimed from an untrusted service is flagged", service: "rogue",
			attrs: claimed,
			want: map[string]any{
				kAttribution: "claimed", caracalprocessor.UntrustedKey: true, kSession: "session-1",
			},
			metric: caracalprocessor.MetricUntrustedClaims,
		},
		{
			name: "claimed from an untrusted service is dropped", service: "rogue",
			attrs: claimed, untrusted: caracalprocessor.ClaimsDrop,
			want: map[string]any{
				kAttribution: nil, caracalprocessor.UntrustedKey: nil, kSession: nil, kHop: nil,
				caracalprocessor.DepthKey: nil, "other": "kept",
			},
			metric: caracalprocessor.MetricUntrustedClaims,
		},
		{
			name: "verified from an untrusted service is dropped", service: "",
			attrs: verifiedAttrs(), untrusted: caracalprocessor.ClaimsDrop,
			want: map[string]any{kAttribution: nil, kZone: nil, kPath: nil, "other": "kept"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := trustingConfig(quickstartServices...)
			if tt.untrusted != "" {
				cfg.Attribution.UntrustedClaims = tt.untrusted
			}
			td := newTraces()
			attrs := map[string]any{"other": "kept"}
			for k, v := range tt.attrs {
				attrs[k] = v
			}
			td.span(td.service(tt.service), traceID(1), "op", attrs)
			out, tel := run(t, cfg, td.td)
			s := spansByName(out)[tt.service+"/op"]
			for k, want := range tt.want {
				if got := attr(s, k); !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %#v, want %#v", k, got, want)
				}
			}
			if tt.metric != "" {
				if n := counter(t, tel, tt.metric, nil); n != 1 {
					t.Errorf("%s = %d, want 1", tt.metric, n)
				}
			}
		})
	}
}

// TestNoTrustedServices checks the default: with no trusted service, no
// span stays verified, and nothing is dropped.
func TestNoTrustedServices(t *testing.T) {
	td := newTraces()
	td.quickstart(traceID(1))
	out, tel := run(t, defaultConfig(), td.td)
	for name, s := range spansByName(out) {
		if a := attr(s, kAttribution); a == "verified" {
			t.Errorf("%s stayed verified", name)
		}
	}
	if n := counter(t, tel, caracalprocessor.MetricAttributionDowngraded,
		map[string]string{"reason": "untrusted_service"}); n != 4 {
		t.Errorf("downgraded = %d, want the 4 verified spans", n)
	}
	if got, want := out.SpanCount(), 9; got != want {
		t.Errorf("%d spans out, want %d", got, want)
	}
}
