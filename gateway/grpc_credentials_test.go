// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package gateway_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/otelcaracal/otelcaracal/gateway"
)

// authInfo is the AuthInfo of a connection with the given security level.
type authInfo struct{ credentials.CommonAuthInfo }

func (authInfo) AuthType() string { return "test" }

var (
	plaintext = authInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}
	tls       = authInfo{credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}
)

// TestGRPCCredentials: the mandate goes only on bound calls, for the right
// resource, and only over a secure connection or to loopback.
func TestGRPCCredentials(t *testing.T) {
	const method = "/tools.v1.Tools/Search"
	var (
		loopTarget   = gateway.GRPCTarget{Resource: "resource://tools", Authority: "127.0.0.1:7000"}
		remoteTarget = gateway.GRPCTarget{Resource: "resource://remote", Authority: "tools.example.com:443"}
		svcTarget    = gateway.GRPCTarget{Resource: "resource://search", Authority: "127.0.0.1:7000",
			Service: "tools.v1.Tools"}
	)
	for _, tc := range []struct {
		name   string
		opts   []gateway.Option
		uri    string
		method string
		auth   credentials.AuthInfo
		named  string // x-caracal-resource of the call
		want   string // the resource of the mandate sent, "" for none
		err    error
	}{
		{
			name: "target on loopback in plaintext",
			opts: []gateway.Option{gateway.WithGRPCTargets(loopTarget)},
			uri:  "https://127.0.0.1:7000/tools.v1.Tools", auth: plaintext,
			want: "resource://tools",
		},
		{
			name: "other authority",
			opts: []gateway.Option{gateway.WithGRPCTargets(loopTarget)},
			uri:  "https://127.0.0.1:7001/tools.v1.Tools", auth: plaintext,
		},
		{
			name: "no target",
			uri:  "https://127.0.0.1:7000/tools.v1.Tools", auth: plaintext,
		},
		{
			name: "service target preferred",
			opts: []gateway.Option{gateway.WithGRPCTargets(loopTarget, svcTarget)},
			uri:  "https://127.0.0.1:7000/tools.v1.Tools", auth: plaintext,
			want: "resource://search",
		},
		{
			name: "service target for another service",
			opts: []gateway.Option{gateway.WithGRPCTargets(svcTarget)},
			uri:  "https://127.0.0.1:7000/other.v1.Other", auth: plaintext,
			method: "/other.v1.Other/Get",
		},
		{
			name: "named resource selects the target",
			opts: []gateway.Option{gateway.WithGRPCTargets(loopTarget, svcTarget)},
			uri:  "https://127.0.0.1:7000/tools.v1.Tools", auth: plaintext,
			named: "resource://tools",
			want:  "resource://tools",
		},
		{
			name: "remote target over TLS, port 443 left out",
			opts: []gateway.Option{gateway.WithGRPCTargets(remoteTarget)},
			uri:  "https://TOOLS.example.com/tools.v1.Tools", auth: tls,
			want: "resource://remote",
		},
		{
			name: "remote target in plaintext",
			opts: []gateway.Option{gateway.WithGRPCTargets(remoteTarget)},
			uri:  "https://tools.example.com/tools.v1.Tools", auth: plaintext,
			err: gateway.ErrInsecureTransport,
		},
		{
			name: "remote target in plaintext, allowed",
			opts: []gateway.Option{gateway.WithGRPCTargets(remoteTarget), gateway.WithUnsafeGRPCPlaintext()},
			uri:  "https://tools.example.com/tools.v1.Tools", auth: plaintext,
			want: "resource://remote",
		},
		{
			name: "gateway with a named resource",
			opts: []gateway.Option{gateway.WithGateway("https://gw.example.com")},
			uri:  "https://gw.example.com/tools.v1.Tools", auth: tls,
			named: "resource://tools",
			want:  "resource://tools",
		},
		{
			name: "gateway without a named resource",
			opts: []gateway.Option{gateway.WithGateway("https://gw.example.com")},
			uri:  "https://gw.example.com/tools.v1.Tools", auth: tls,
		},
		{
			name: "gateway with a base path",
			opts: []gateway.Option{gateway.WithGateway("https://gw.example.com/base")},
			uri:  "https://gw.example.com/tools.v1.Tools", auth: tls,
			named: "resource://tools",
		},
		{
			name: "invalid target",
			opts: []gateway.Option{gateway.WithGRPCTargets(gateway.GRPCTarget{Authority: "127.0.0.1:7000"})},
			uri:  "https://127.0.0.1:7000/tools.v1.Tools", auth: plaintext,
			err: errors.New("needs a resource"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked string
			src := gateway.MandateSourceFunc(func(_ context.Context, res string) (string, error) {
				asked = res
				return "token-for-" + res, nil
			})
			creds := gateway.NewGRPCCredentials(append(tc.opts, gateway.WithMandates(src))...)
			if creds.RequireTransportSecurity() {
				t.Error("RequireTransportSecurity is true")
			}
			m := tc.method
			if m == "" {
				m = method
			}
			ctx := credentials.NewContextWithRequestInfo(context.Background(),
				credentials.RequestInfo{Method: m, AuthInfo: tc.auth})
			if tc.named != "" {
				ctx = metadata.AppendToOutgoingContext(ctx, gateway.ResourceMetadataKey, tc.named)
			}
			md, err := creds.GetRequestMetadata(ctx, tc.uri)
			switch {
			case tc.err != nil:
				if err == nil || (!errors.Is(err, tc.err) && !strings.Contains(err.Error(), tc.err.Error())) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				if len(md) != 0 || asked != "" {
					t.Errorf("metadata %v and a mandate for %q on an error", md, asked)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if asked != tc.want {
				t.Errorf("mandate asked for %q, want %q", asked, tc.want)
			}
			want := map[string]string{}
			if tc.want != "" {
				want["authorization"] = "Bearer token-for-" + tc.want
			}
			if len(md) != len(want) || md["authorization"] != want["authorization"] {
				t.Errorf("metadata %v, want %v", md, want)
			}
		})
	}
}

// TestGRPCCredentialsSourceError: a failing mandate source fails the call
// with the resource named, never the token.
func TestGRPCCredentialsSourceError(t *testing.T) {
	creds := gateway.NewGRPCCredentials(
		gateway.WithGRPCTargets(gateway.GRPCTarget{Resource: "resource://tools", Authority: "localhost:7000"}))
	ctx := credentials.NewContextWithRequestInfo(context.Background(),
		credentials.RequestInfo{Method: "/a.B/C", AuthInfo: plaintext})
	_, err := creds.GetRequestMetadata(ctx, "https://localhost:7000/a.B")
	if !errors.Is(err, gateway.ErrNoMandate) || !strings.Contains(err.Error(), `"resource://tools"`) {
		t.Errorf("error %v, want ErrNoMandate for resource://tools", err)
	}
}
