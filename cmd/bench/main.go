// Command bench runs podvisor's benchmark suites and prints their tables
// (`make bench`). Each suite lives in internal/bench/<topic>; this file only
// chooses which to run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/podvisor/podvisor/internal/bench/apiserver"
	"github.com/podvisor/podvisor/internal/bench/auth"
	"github.com/podvisor/podvisor/internal/bench/controllers"
	"github.com/podvisor/podvisor/internal/bench/endpoints"
	"github.com/podvisor/podvisor/internal/bench/files"
	"github.com/podvisor/podvisor/internal/bench/node"
	"github.com/podvisor/podvisor/internal/bench/report"
	"github.com/podvisor/podvisor/internal/bench/scheduler"
	"github.com/podvisor/podvisor/internal/bench/schema"
	"github.com/podvisor/podvisor/internal/bench/streams"
	"github.com/podvisor/podvisor/internal/bench/visor"
)

// suite is one benchmark topic. Run returns its tables or an error that
// names the missing prerequisite.
type suite struct {
	name string
	run  func(ctx context.Context, binDir string) ([]*report.Table, error)
}

// suites lists every benchmark topic, in the order they are printed.
func suites() []suite {
	return []suite{
		{name: "apiserver", run: apiserver.Run},
		{name: "auth", run: auth.Run},
		{name: "controllers", run: controllers.Run},
		{name: "endpoints", run: endpoints.Run},
		{name: "files", run: files.Run},
		{name: "schema", run: schema.Run},
		{name: "node", run: node.Run},
		{name: "scheduler", run: scheduler.Run},
		{name: "visor", run: visor.Run},
		{name: "streams", run: streams.Run},
		{name: "pods", run: node.PodStart},
	}
}

func main() {
	only := flag.String("only", "", "comma-separated suite names to run (default all)")
	binDir := flag.String("bin", os.Getenv("PODVISOR_BIN_DIR"), "directory holding the podvisor and visor binaries")
	flag.Parse()
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n != "" {
			want[n] = true
		}
	}
	failed := false
	for _, s := range suites() {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		tables, err := s.run(context.Background(), *binDir)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", s.name, err)
			failed = true
			continue
		}
		for _, t := range tables {
			t.Write(os.Stdout)
		}
	}
	if failed {
		os.Exit(1)
	}
}
