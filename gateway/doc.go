// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Package gateway puts Caracal's authority envelope on HTTP clients and
// servers instrumented with otelhttp.
//
// NewTransport is an otelhttp client transport that also writes the
// envelope of each request's context; NewHandler is an otelhttp server
// handler that reads the envelope before the server span starts, so every
// span of the request, the server span included, carries it.
//
//	client := &http.Client{Transport: gateway.NewTransport(nil)}
//	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
//	resp, err := client.Do(req)
//
//	http.Handle("/tasks", gateway.NewHandler(tasks, "tasks"))
//
// Build outbound requests with http.NewRequestWithContext: the envelope is
// read from the request's context, and http.NewRequest gives a request an
// empty one.
//
// # Security
//
// NewHandler checks nothing. The envelope it reads from baggage is what the
// caller claims, and the bearer token it reads is not verified: never
// authorize on them.
package gateway // import "github.com/otelcaracal/otelcaracal/gateway"
