// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

package caracaltest // import "github.com/otelcaracal/otelcaracal/caracaltest"

import "time"

type config struct {
	zone, application string
	now               func() time.Time
	lease             time.Duration
}

func newConfig(opts []Option) config {
	c := config{
		zone:        DefaultZoneID,
		application: DefaultApplicationID,
		now:         time.Now,
		lease:       120 * time.Second,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// Option configures a Server.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithZone sets the zone id. The default is DefaultZoneID.
func WithZone(id string) Option {
	return optionFunc(func(c *config) {
		if id != "" {
			c.zone = id
		}
	})
}

// WithApplication sets the application id. The default is
// DefaultApplicationID.
func WithApplication(id string) Option {
	return optionFunc(func(c *config) {
		if id != "" {
			c.application = id
		}
	})
}

// WithClock sets the clock the Server issues and checks times with. A nil
// now keeps time.Now.
func WithClock(now func() time.Time) Option {
	return optionFunc(func(c *config) {
		if now != nil {
			c.now = now
		}
	})
}

// WithLease sets the lease of service sessions (Caracal protocol §4.6). The
// default is 120 s; a value of zero or less keeps it.
func WithLease(d time.Duration) Option {
	return optionFunc(func(c *config) {
		if d > 0 {
			c.lease = d
		}
	})
}
