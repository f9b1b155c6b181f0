// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate

// ParseKeySet exposes the JWKS body parser to the black-box tests and
// FuzzJWKS.
var ParseKeySet = parseKeySet
