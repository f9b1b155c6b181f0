// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package httppath_test

import (
	"testing"

	"github.com/otelcaracal/otelcaracal/internal/httppath"
)

func TestHasTraversal(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/v1/tools", false},
		{"/", false},
		{"/a%20b", false},
		{"/events/../admin", true},
		{"./events", true},
		{"/.", true},
		{"/%2e%2e/admin", true},
		{"/%252e%252e/admin", true},
		{"/a%5cb", true},
		{`/a\b`, true},
		{"/%zz", true},
		{"/..a", false},
		{"/" + deep("%2e", 9), true}, // more rounds than allowed: refused
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if got := httppath.HasTraversal(tt.path); got != tt.want {
				t.Errorf("HasTraversal(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}

// deep percent-encodes s's "%" n-1 more times.
func deep(s string, n int) string {
	for range n - 1 {
		out := ""
		for _, c := range s {
			if c == '%' {
				out += "%25"
			} else {
				out += string(c)
			}
		}
		s = out
	}
	return s
}
