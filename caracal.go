// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package otelcaracal // import "github.com/otelcaracal/otelcaracal"

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/otelcaracal/otelcaracal/gateway"
	"github.com/otelcaracal/otelcaracal/mandate"
)

// defaultTimeout bounds one coordinator request and one STS exchange
// (Caracal protocol §4.1).
const defaultTimeout = 10 * time.Second

// LifecycleScope is the scope of the lifecycle token the client presents
// to the coordinator (Caracal protocol §4.1, §5.4).
const LifecycleScope = "agent:lifecycle"

// Client makes the calls of the Caracal SDK for one application: it
// starts and ends sessions at the coordinator, delegates, mints mandates,
// binds inbound requests and calls resources through the Gateway. The
// authority a call acts under is the context.Context it is given: its
// OpenTelemetry baggage carries the envelope (package baggage) and, beside
// it, the subject token.
//
// Build one with New, FromEnv, FromConfig or FromClientSecret and share
// it: a Client is safe for concurrent use and caches the tokens it mints.
// Printing a Client never shows its secret.
type Client struct {
	zone, app      string
	stsURL         string
	coordinatorURL string
	gatewayURL     string
	bindings       []gateway.Binding
	resources      []string
	defaultTTL     time.Duration
	production     bool
	bootstrap      func() string // nil with a client secret

	cfg    config
	router *gateway.Router
	mints  *mandate.MintCache // nil with a bootstrap token
	coord  *coordinator
	apps   *appSessions
}

// config holds the Options.
type config struct {
	httpClient     *http.Client
	stsURL         string
	coordinatorURL string
	gatewayURL     string
	bindings       []gateway.Binding
	resources      []string
	defaultTTL     time.Duration
	timeout        time.Duration
	now            func() time.Time
	tracerProvider trace.TracerProvider
	gatewayOpts    []gateway.Option
}

func newConfig(opts []Option) config {
	c := config{timeout: defaultTimeout, now: time.Now}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	if c.httpClient == nil {
		c.httpClient = &http.Client{}
	}
	return c
}

// Option configures a Client.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithHTTPClient sets the HTTP client for the STS and the coordinator.
// Redirects are never followed, whatever its CheckRedirect says: they
// would carry credentials elsewhere. The default is a client on
// http.DefaultTransport; nil keeps it. Resource calls use the transport
// given to Transport instead.
func WithHTTPClient(c *http.Client) Option {
	return optionFunc(func(cfg *config) {
		if c != nil {
			cfg.httpClient = c
		}
	})
}

// WithSTSURL sets the STS base URL, overriding the profile and
// CARACAL_STS_URL. Empty keeps them.
func WithSTSURL(u string) Option {
	return optionFunc(func(c *config) { c.stsURL = u })
}

// WithCoordinatorURL sets the coordinator base URL, overriding the
// profile and CARACAL_COORDINATOR_URL. Empty keeps them.
func WithCoordinatorURL(u string) Option {
	return optionFunc(func(c *config) { c.coordinatorURL = u })
}

// WithGatewayURL sets the Gateway base URL, which may include a base
// path, overriding the profile and CARACAL_GATEWAY_URL. Empty keeps them.
func WithGatewayURL(u string) Option {
	return optionFunc(func(c *config) { c.gatewayURL = u })
}

// WithBindings adds resource bindings after those of the profile and the
// environment; a binding for a resource already bound replaces it.
func WithBindings(bs ...gateway.Binding) Option {
	return optionFunc(func(c *config) { c.bindings = append(c.bindings, bs...) })
}

// WithResources adds resource identifiers to those the lifecycle token is
// requested for (Caracal protocol §5.4); every bound resource is one
// already.
func WithResources(ids ...string) Option {
	return optionFunc(func(c *config) { c.resources = append(c.resources, ids...) })
}

// WithDefaultTTL sets the TTL of sessions started by Session without one,
// overriding default_ttl_seconds and CARACAL_DEFAULT_TTL_SECONDS. It must
// be whole seconds within 1 s..24 h. Zero keeps them; without any, the
// coordinator's default (one hour) applies.
func WithDefaultTTL(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d != 0 {
			c.defaultTTL = d
		}
	})
}

// WithTimeout bounds each coordinator request and each STS exchange. A
// value that is not positive keeps the default of 10 s.
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	})
}

// WithClock sets the clock that token freshness and heartbeat scheduling
// follow. nil keeps time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}

// WithTracerProvider sets the provider of the client spans around
// coordinator calls. nil keeps the global provider, read at each call.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) { c.tracerProvider = tp })
}

// WithGatewayOptions adds options for every transport the client builds
// (Transport, Fetch), such as gateway.WithOTelHTTPOptions or
// gateway.WithPropagators. Its own gateway, binding and mandate options
// come first, so these may override them.
func WithGatewayOptions(opts ...gateway.Option) Option {
	return optionFunc(func(c *config) { c.gatewayOpts = append(c.gatewayOpts, opts...) })
}

// New returns a client configured as Caracal's SDKs configure one
// (Caracal protocol §8.1): from the caracal.toml profile CARACAL_CONFIG
// names when it is set (see FromConfig; a missing file is an error), else
// from the CARACAL_* variables (see FromEnv). No other path is searched.
// Options override both.
func New(opts ...Option) (*Client, error) {
	if path := getenv(envConfig); path != "" {
		return FromConfig(path, opts...)
	}
	return FromEnv(opts...)
}

// FromEnv returns a client configured by the CARACAL_* variables only
// (Caracal protocol §8.2): CARACAL_ZONE_ID and CARACAL_APPLICATION_ID are
// required, with exactly one of CARACAL_APP_CLIENT_SECRET,
// CARACAL_APP_CLIENT_SECRET_FILE (a file only its owner may access) and
// CARACAL_BOOTSTRAP_TOKEN. The URLs default to DefaultSTSURL,
// DefaultCoordinatorURL and DefaultGatewayURL, except with
// CARACAL_ENV=production, where they are required and must be https
// unless on a loopback host or CARACAL_ALLOW_INSECURE_CONFIG_URLS=true.
//
// Every problem is reported, joined; each matches ErrConfig and names the
// setting and its variable, never a secret.
func FromEnv(opts ...Option) (*Client, error) {
	s, err := loadEnv()
	if err != nil {
		return nil, err
	}
	return build(s, opts)
}

// FromConfig returns a client configured by the caracal.toml profile at
// path (Caracal protocol §8.3), decoded strictly: a key the schema does
// not list is refused with its name (the file is written by hand, and a
// typo such as gatway_url would otherwise silently fall back to a
// default), as are a negative default_ttl_seconds, nesting deeper than
// the schema's and a file group or others may write. zone_id,
// application_id and exactly one of app_client_secret and
// app_client_secret_file are required; an inline secret needs a profile
// only its owner may access, and a relative secret file path is read
// from the profile's directory.
//
// The identity variables are not read; the URL, TTL, binding and resource
// variables fill what the profile leaves unset, as with FromEnv.
func FromConfig(path string, opts ...Option) (*Client, error) {
	s, err := loadProfile(path)
	if err != nil {
		return nil, err
	}
	return build(s, opts)
}

// FromClientSecret returns a client for the application's client-secret
// credentials (Caracal protocol §8.4). It mints and refreshes its own
// lifecycle token through the STS (§5.4) and, like the other
// constructors, takes URLs, TTL, bindings and resources from Options,
// then the CARACAL_* variables, then the defaults.
func FromClientSecret(zoneID, applicationID, secret string, opts ...Option) (*Client, error) {
	s := settings{source: "client secret", zone: strings.TrimSpace(zoneID), app: strings.TrimSpace(applicationID)}
	var errs []error
	if s.zone == "" {
		errs = append(errs, &ConfigError{Source: s.source, Field: "zone_id", Err: errors.New("missing")})
	}
	if s.app == "" {
		errs = append(errs, &ConfigError{Source: s.source, Field: "application_id", Err: errors.New("missing")})
	}
	if secret = strings.TrimSpace(secret); secret == "" {
		errs = append(errs, &ConfigError{Source: s.source, Field: "client secret", Err: errors.New("missing")})
	}
	s.secret = func() string { return secret }
	errs = append(errs, s.fillEnv())
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return build(s, opts)
}

// build applies the options over s and builds the client.
func build(s settings, opts []Option) (*Client, error) {
	cfg := newConfig(opts)
	if cfg.stsURL != "" {
		s.stsURL = cfg.stsURL
	}
	if cfg.coordinatorURL != "" {
		s.coordinatorURL = cfg.coordinatorURL
	}
	if cfg.gatewayURL != "" {
		s.gatewayURL = cfg.gatewayURL
	}
	if cfg.defaultTTL != 0 {
		s.defaultTTL = cfg.defaultTTL
	}
	var errs []error
	if d := s.defaultTTL; d < 0 || d%time.Second != 0 || d > maxTTLSeconds*time.Second {
		errs = append(errs, &ConfigError{Source: "option", Field: "default TTL",
			Err: fmt.Errorf("%v is not whole seconds within 1s..24h", d)})
	}
	for _, b := range cfg.bindings {
		if err := checkBinding(b); err != nil {
			errs = append(errs, &ConfigError{Source: "option", Field: "binding", Err: err})
		}
	}
	s.bindings = mergeBindings(s.bindings, cfg.bindings)
	for _, r := range cfg.resources {
		s.resources = appendUnique(s.resources, strings.TrimSpace(r))
	}
	errs = append(errs, s.finish())
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := &Client{
		zone: s.zone, app: s.app,
		stsURL: s.stsURL, coordinatorURL: s.coordinatorURL, gatewayURL: s.gatewayURL,
		bindings: slices.Clone(s.bindings), resources: slices.Clone(s.resources),
		defaultTTL: s.defaultTTL, production: s.production, bootstrap: s.bootstrap,
		cfg: cfg,
	}
	if s.secret != nil {
		sts, err := mandate.NewSTSClient(s.stsURL,
			mandate.StaticCredentials(s.zone, s.app, s.secret()),
			mandate.WithSTSHTTPClient(cfg.httpClient),
			mandate.WithSTSTimeout(cfg.timeout),
			mandate.WithSTSClock(cfg.now))
		if err != nil {
			return nil, &ConfigError{Source: s.source, Field: "sts_url", Variable: envSTSURL, Err: err}
		}
		c.mints = mandate.NewMintCache(sts)
	}
	router, err := gateway.NewRouter(c.gatewayURL, c.bindings...)
	if err != nil {
		return nil, &ConfigError{Source: s.source, Field: "gateway_url", Variable: envGatewayURL, Err: err}
	}
	c.router = router
	c.coord = newCoordinator(c)
	c.apps = newAppSessions(c)
	return c, nil
}

// ZoneID returns the zone the client acts in.
func (c *Client) ZoneID() string { return c.zone }

// ApplicationID returns the application the client acts as.
func (c *Client) ApplicationID() string { return c.app }

// GatewayURL returns the Gateway base URL.
func (c *Client) GatewayURL() string { return c.gatewayURL }

// Bindings returns the resource bindings, in the order configured.
func (c *Client) Bindings() []gateway.Binding { return slices.Clone(c.bindings) }

// Close retires the sessions application transports provisioned (Caracal
// protocol §7.2), best effort, and closes idle connections of the
// client's HTTP client. Handles from StartSession are their owners' to
// close. The client stays usable.
func (c *Client) Close(ctx context.Context) error {
	err := c.apps.retireAll(ctx)
	c.cfg.httpClient.CloseIdleConnections()
	return err
}

// tracer returns the tracer for coordinator calls.
func (c *Client) tracer() trace.Tracer {
	tp := c.cfg.tracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer("github.com/otelcaracal/otelcaracal")
}
