// Copyright The otelcaracal Authors
// SPDX-License-Identifier: Apache-2.0

// Command caracal-chains prints the Caracal delegation chains of traces
// read from a Jaeger query service or from an OTLP JSON file, as a tree
// per trace (or as JSON), the way exporter.WriteText renders them.
//
//	caracal-chains -jaeger http://127.0.0.1:16686 -trace 4bf92f3577b34da6a3ce929d0e0e4736
//	caracal-chains -jaeger http://127.0.0.1:16686 -service planner-agent -lookback 1h
//	caracal-chains -file traces.json
//	caracal-chains -file - -json < traces.json
//
// A file holds OTLP JSON (an ExportTraceServiceRequest, one or several in
// a row as the file exporter writes them), or a response of Jaeger's HTTP
// API saved from /api/traces or /api/v3/traces. Only the caracal.*
// attributes and the service names of the spans are read.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/otelcaracal/otelcaracal/exporter"
)

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "caracal-chains:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// errUsage marks errors in the command line.
var errUsage = errors.New("usage")

// options are the command-line flags.
type options struct {
	jaeger   string
	trace    string
	service  string
	lookback time.Duration
	limit    int
	file     string
	json     bool
	timeout  time.Duration
}

// parse reads args into options.
func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("caracal-chains", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.jaeger, "jaeger", "",
		"base URL of a Jaeger query service, such as http://127.0.0.1:16686")
	fs.StringVar(&o.trace, "trace", "", "with -jaeger: the id of one trace to read")
	fs.StringVar(&o.service, "service", "", "with -jaeger: read the recent traces of this service")
	fs.DurationVar(&o.lookback, "lookback", time.Hour, "with -service: how far back to search")
	fs.IntVar(&o.limit, "limit", 20, "with -service: the most traces to read")
	fs.StringVar(&o.file, "file", "",
		"an OTLP JSON file or a saved Jaeger API response; - for standard input")
	fs.BoolVar(&o.json, "json", false, "print the chains as JSON instead of trees")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "with -jaeger: time allowed for the query")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("%w: %w", errUsage, err)
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case (o.jaeger == "") == (o.file == ""):
		return o, fmt.Errorf("%w: give exactly one of -jaeger and -file", errUsage)
	case o.jaeger != "" && (o.trace == "") == (o.service == ""):
		return o, fmt.Errorf("%w: with -jaeger, give exactly one of -trace and -service", errUsage)
	case o.limit < 1:
		return o, fmt.Errorf("%w: -limit must be at least 1", errUsage)
	}
	return o, nil
}

// run reads the traces that args name and writes their chains to w.
func run(ctx context.Context, args []string, stdin io.Reader, w io.Writer) error {
	o, err := parse(args, io.Discard)
	if err != nil {
		return err
	}
	var records []exporter.SpanRecord
	if o.jaeger != "" {
		ctx, cancel := context.WithTimeout(ctx, o.timeout)
		defer cancel()
		records, err = fromJaeger(ctx, o)
	} else {
		records, err = fromFile(o.file, stdin)
	}
	if err != nil {
		return err
	}
	chains := exporter.BuildChains(records)
	if o.json {
		return exporter.WriteJSON(w, chains)
	}
	if len(chains) == 0 {
		_, err := fmt.Fprintln(w, "no delegation chains: no span carries caracal attributes")
		return err
	}
	return exporter.WriteText(w, chains)
}
