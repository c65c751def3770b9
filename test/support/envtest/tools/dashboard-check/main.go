// dashboard-check FILE...: decodes each Grafana dashboard (JSON) strictly with the Grafana
// foundation SDK, its panels and Prometheus queries included (an unknown field, a missing required
// one or a value of the wrong type is an error), then runs the SDK's validation. Prints every
// problem and exits 1 if there was one.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dashboard-check FILE...")
		os.Exit(2)
	}
	// Panel options and queries decode by their type (timeseries, stat, prometheus, ...).
	plugins.RegisterDefaultPlugins()
	failed := false
	for _, path := range os.Args[1:] {
		if err := check(path); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", path, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func check(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var d dashboard.Dashboard
	if err := problems(d.UnmarshalJSONStrict(raw)); err != nil {
		return err
	}
	return problems(d.Validate())
}

// problems is err, or nil for an empty cog.BuildErrors: the SDK's strict decoders return their
// list of problems as an error even when it is empty.
func problems(err error) error {
	var list cog.BuildErrors
	if errors.As(err, &list) && len(list) == 0 {
		return nil
	}
	return err
}
