// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracalprocessor_test

import (
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// duplicateClaims decodes OTLP JSON whose span repeats the attribution
// key, as a decoder keeps it.
func duplicateClaims(t *testing.T, first, second string) ptrace.Traces {
	t.Helper()
	doc := fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[
		{"key":"service.name","value":{"stringValue":"rogue"}}]},
		"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708",
		"name":"op","attributes":[
		{"key":%[3]q,"value":{"stringValue":"session-2"}},
		{"key":%[4]q,"value":{"stringValue":"zone-test"}},
		{"key":%[5]q,"value":{"stringValue":"app-test"}},
		{"key":%[6]q,"value":{"stringValue":%[1]q}},
		{"key":%[6]q,"value":{"stringValue":%[2]q}}]}]}]}]}`,
		first, second, kSession, kZone, kApplication, kAttribution)
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).Attributes().Range(
		func(k string, _ pcommon.Value) bool {
			if k == kAttribution {
				n++
			}
			return true
		})
	if n != 2 {
		t.Fatalf("decoded %d attribution keys, want the duplicate kept", n)
	}
	return td
}

// TestDuplicateClaimKeys: OTLP allows a key twice. Whatever the order, an
// untrusted service's span leaves the processor with one attribution,
// claimed.
func TestDuplicateClaimKeys(t *testing.T) {
	for _, order := range [][2]string{{"verified", "claimed"}, {"claimed", "verified"}} {
		out, _ := run(t, defaultConfig(), duplicateClaims(t, order[0], order[1]))
		var values []string
		spansByName(out)["rogue/op"].Attributes().Range(func(k string, v pcommon.Value) bool {
			if k == kAttribution {
				values = append(values, v.AsString())
			}
			return true
		})
		if strings.Join(values, ",") != "claimed" {
			t.Errorf("order %v: attribution values %v, want one, claimed", order, values)
		}
	}
}

// TestBlankSignedClaims: a zone or application of spaces is no signed
// claim.
func TestBlankSignedClaims(t *testing.T) {
	td := newTraces()
	attrs := verifiedAttrs()
	attrs[kZone] = "  "
	td.span(td.service("tool-api"), traceID(1), "op", attrs)
	out, _ := run(t, trustingConfig("tool-api"), td.td)
	if v, _ := spansByName(out)["tool-api/op"].Attributes().Get(kAttribution); v.Str() != "claimed" {
		t.Errorf("attribution = %q, want claimed", v.Str())
	}
}

// TestLongValuesStillScanned: skipping a run of base64 that holds no JWT
// must not skip a JWT that follows it.
func TestLongValuesStillScanned(t *testing.T) {
	for name, v := range map[string]string{
		"jwt after eyJ run":    strings.Repeat("eyJ", 10000) + " " + testJWT,
		"bearer after tabs":    strings.Repeat("a\t", 10000) + "Bearer " + testToken,
		"jwt after short runs": strings.Repeat("eyJx.", 1000) + testJWT,
	} {
		td := newTraces()
		td.span(td.service("svc"), traceID(1), "op", map[string]any{"note": v})
		out, _ := run(t, defaultConfig(), td.td)
		if _, ok := spansByName(out)["svc/op"].Attributes().Get("note"); ok {
			t.Errorf("%s: credential kept", name)
		}
	}
}
