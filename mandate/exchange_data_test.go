// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package mandate_test

// Protocol vectors shared by the exchange and cache tests.

// tokenResponseFixture is the interoperability fixture
// token-response.valid.json of the Caracal protocol notes (§10.1), byte
// for byte.
const tokenResponseFixture = `{
  "access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6ImtpZC0xIn0.eyJzdWIiOiJ1c2VyLTEifQ.signature",
  "token_type": "Bearer",
  "expires_in": 300,
  "scope": "read write",
  "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
  "target_resources": ["resource://pipernet"]
}`

// The credentials and ids of the application-transport scenario (Caracal
// protocol §10.12).
const (
	testZone     = "z"
	testApp      = "app"
	testSecret   = "s3cr3t-Value/+&="
	testResource = "resource://pipernet"
	testGrant    = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// testJWT is shaped like a mandate; tests check it never leaks.
const testJWT = "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIn0." +
	"eyJzdWIiOiJhcHAiLCJ1c2UiOiJnYXRld2F5In0." +
	"c2lnbmF0dXJlLWJ5dGVzLWhlcmU"
