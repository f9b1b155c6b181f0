// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Package httppath checks request paths as Caracal's Gateway does.
package httppath // import "github.com/otelcaracal/otelcaracal/internal/httppath"

import (
	"net/url"
	"strings"
)

// MaxDecodeRounds bounds the repeated percent-decoding of HasTraversal
// (Caracal protocol §7.1 step 3).
const MaxDecodeRounds = 8

// HasTraversal reports whether the escaped path, percent-decoded again and
// again up to MaxDecodeRounds times, holds a backslash or a "." or ".."
// segment in any round, or fails to decode. So "%252e%252e" is caught.
func HasTraversal(path string) bool {
	for range MaxDecodeRounds {
		if strings.Contains(path, `\`) {
			return true
		}
		for seg := range strings.SplitSeq(path, "/") {
			if seg == "." || seg == ".." {
				return true
			}
		}
		dec, err := url.PathUnescape(path)
		if err != nil {
			return true
		}
		if dec == path {
			return false
		}
		path = dec
	}
	return true
}
