// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Package e2e holds the end-to-end test of the collector: run.sh builds
// Jaeger and otelcol-caracal, starts both on 127.0.0.1, runs the
// quickstart against the collector and then runs the tests of this
// package, built with the e2e tag, against Jaeger's HTTP API:
//
//	make e2e
//
// Without the tag the package is empty, so that go test ./... does not
// need Jaeger.
package e2e
