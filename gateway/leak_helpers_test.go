// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway_test

import (
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// assertNoTokens fails if any of tokens, or any of their segments of 16
// bytes or more, appears in an attribute, event or status of spans, or in
// texts.
func assertNoTokens(t *testing.T, spans []sdktrace.ReadOnlySpan, texts, tokens []string) {
	t.Helper()
	all := append([]string(nil), texts...)
	for _, s := range spans {
		for _, kv := range s.Attributes() {
			all = append(all, kv.Value.Emit())
		}
		for _, e := range s.Events() {
			all = append(all, e.Name)
			for _, kv := range e.Attributes {
				all = append(all, kv.Value.Emit())
			}
		}
		all = append(all, s.Status().Description)
	}
	for _, tok := range tokens {
		for _, part := range append(strings.Split(tok, "."), tok) {
			if len(part) < 16 {
				continue
			}
			for _, txt := range all {
				if strings.Contains(txt, part) {
					t.Errorf("token material leaked into %.200q", txt)
				}
			}
		}
	}
}
