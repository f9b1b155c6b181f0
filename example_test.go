// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/otelcaracal/otelcaracal"
	"github.com/otelcaracal/otelcaracal/baggage"
	"github.com/otelcaracal/otelcaracal/caracaltest"
	"github.com/otelcaracal/otelcaracal/mandate"
)

func ExampleFromConfig() {
	dir, err := os.MkdirTemp("", "caracal")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "caracal.toml")
	profile := `zone_id = "zone-1"
application_id = "app-1"
app_client_secret = "from-the-console"
sts_url = "https://sts.example.com"
coordinator_url = "https://coordinator.example.com"
gateway_url = "https://gateway.example.com"

[[credentials]]
resource = "resource://pipernet"
upstream_prefix = "https://api.pipernet.example/v1"
`
	// A profile with an inline secret must be readable by its owner only.
	if err := os.WriteFile(path, []byte(profile), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	c, err := otelcaracal.FromConfig(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.ZoneID(), c.ApplicationID(), c.GatewayURL())
	fmt.Println(c.Bindings()[0].Resource, "at", c.Bindings()[0].UpstreamPrefix)

	// A key the schema does not list is refused, by name.
	typo := "gatway_url = \"https://gateway.example.com\"\n" + profile
	if err := os.WriteFile(path, []byte(typo), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	_, err = otelcaracal.FromConfig(path)
	var ce *otelcaracal.ConfigError
	if errors.As(err, &ce) {
		fmt.Println("refused:", ce.Field)
	}
	// Output:
	// zone-1 app-1 https://gateway.example.com
	// resource://pipernet at https://api.pipernet.example/v1
	// refused: gatway_url
}

// exampleClient returns a client of an in-process control plane that
// routes resource://tools to upstream, and a function to shut both down.
func exampleClient(upstream http.Handler) (*otelcaracal.Client, *caracaltest.Server, func()) {
	up := httptest.NewServer(upstream)
	cp := caracaltest.NewServer()
	cp.AddResource("resource://tools", up.URL, "tools:read")
	c, err := otelcaracal.FromClientSecret(cp.ZoneID, cp.ApplicationID, cp.ClientSecret,
		otelcaracal.WithSTSURL(cp.STSURL()),
		otelcaracal.WithCoordinatorURL(cp.CoordinatorURL()),
		otelcaracal.WithGatewayURL(cp.GatewayURL()),
		otelcaracal.WithResources("resource://tools"))
	if err != nil {
		panic(err)
	}
	return c, cp, func() {
		_ = c.Close(context.Background())
		cp.Close()
		up.Close()
	}
}

func ExampleClient_Session() {
	c, _, done := exampleClient(http.NotFoundHandler())
	defer done()

	ctx := context.Background()
	err := c.Session(ctx, func(planner context.Context) error {
		// A child session that takes no authority from its parent...
		return c.Session(planner, func(worker context.Context) error {
			// ...until the planner delegates to it.
			d, err := c.Delegate(planner, otelcaracal.DelegateOptions{
				Target:   baggage.FromContext(worker).AgentSession,
				Resource: "resource://tools",
				Scopes:   []string{"tools:read"},
				TTL:      10 * time.Minute,
			})
			if err != nil {
				return err
			}
			worker, err = c.AcceptDelegation(worker, d.ID)
			if err != nil {
				return err
			}
			env := baggage.FromContext(worker)
			fmt.Println("worker acts under", env.DelegationEdge == d.ID, "at hop", env.Hop)
			return nil
		}, otelcaracal.SessionOptions{Authority: otelcaracal.NoAuthority()})
	}, otelcaracal.SessionOptions{Task: "plan the report"})
	fmt.Println("sessions ended:", err == nil)
	// Output:
	// worker acts under true at hop 1
	// sessions ended: true
}

func ExampleClient_Fetch() {
	c, _, done := exampleClient(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tools answered %s", r.URL.RequestURI())
	}))
	defer done()

	// The parent session narrows its authority to a child session, which
	// calls the resource: each call mints a single-use mandate under the
	// child's delegation and goes through the Gateway.
	err := c.Session(context.Background(), func(ctx context.Context) error {
		return c.Session(ctx, func(ctx context.Context) error {
			resp, err := c.Fetch(ctx, http.MethodGet, "resource://tools", "/search?q=otel", nil,
				otelcaracal.TransportOptions{Scopes: []string{"tools:read"}, TTL: time.Minute})
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			fmt.Println(resp.StatusCode, string(body))
			return err
		}, otelcaracal.SessionOptions{Authority: otelcaracal.NarrowAuthority(otelcaracal.Narrowing{
			Resource: "resource://tools", Scopes: []string{"tools:read"}, TTL: 10 * time.Minute,
		})})
	}, otelcaracal.SessionOptions{})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// 200 tools answered /search?q=otel
}

func ExampleClient_Middleware() {
	mux := http.NewServeMux()
	c, cp, done := exampleClient(mux)
	defer done()

	// The tools service verifies the mandate the Gateway forwards: the
	// envelope its handler sees comes from the signed claims, not from
	// what the request's baggage says.
	v, err := cp.Verifier("resource://tools")
	if err != nil {
		fmt.Println(err)
		return
	}
	tools := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, verified := mandate.ClaimsFromContext(r.Context())
		if !verified {
			http.Error(w, "unverified", http.StatusForbidden)
			return
		}
		env := baggage.FromContext(r.Context())
		fmt.Fprintf(w, "verified: session %v, hop %d, scope %s",
			env.AgentSession == claims.AgentSessionID, env.Hop, claims.Scope)
	})
	mux.Handle("/", c.Middleware(tools, otelcaracal.BindOptions{Verifier: v}))

	err = c.Session(context.Background(), func(ctx context.Context) error {
		return c.Session(ctx, func(ctx context.Context) error {
			resp, err := c.Fetch(ctx, http.MethodGet, "resource://tools", "/", nil,
				otelcaracal.TransportOptions{Scopes: []string{"tools:read"}, TTL: time.Minute})
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			fmt.Println(string(body))
			return err
		}, otelcaracal.SessionOptions{Authority: otelcaracal.NarrowAuthority(otelcaracal.Narrowing{
			Resource: "resource://tools", Scopes: []string{"tools:read"}, TTL: 10 * time.Minute,
		})})
	}, otelcaracal.SessionOptions{})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// verified: session true, hop 1, scope tools:read
}
