// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Package jaeger pins the Jaeger release that the end-to-end test builds
// and runs: its go.mod names github.com/jaegertracing/jaeger/cmd/jaeger as
// a tool, so that
//
//	go build -o jaeger github.com/jaegertracing/jaeger/cmd/jaeger
//
// run in this folder builds that release, with the versions of go.sum. It
// is a module of its own so that Jaeger's dependencies stay out of the
// collector module, which pins its own Collector release.
package jaeger
