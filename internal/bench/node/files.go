package node

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

func writeJSON(p string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o600)
}

// shimMem is one shim's memory in KiB.
type shimMem struct {
	// RSS is VmRSS: resident pages, including file pages (the binary's
	// text and data) that every shim shares through the page cache.
	RSS int64
	// Anon is RssAnon: private memory, what each more shim really costs.
	Anon int64
	// PSS is the proportional set size: private plus a share of shared.
	PSS int64
}

// shimMemory reads the shim pid from a container's meta.json and returns
// the shim's memory.
func shimMemory(metaPath string) (shimMem, error) {
	var sm shimMem
	b, err := os.ReadFile(metaPath)
	if err != nil {
		return sm, err
	}
	var m struct {
		ShimPid int `json:"shimPid"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return sm, err
	}
	fields := map[string]*int64{"VmRSS:": &sm.RSS, "RssAnon:": &sm.Anon, "Pss:": &sm.PSS}
	for _, f := range []string{"status", "smaps_rollup"} {
		if err := readKB(fmt.Sprintf("/proc/%d/%s", m.ShimPid, f), fields); err != nil {
			return sm, err
		}
	}
	return sm, nil
}

func readKB(p string, fields map[string]*int64) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 {
			if dst, ok := fields[fs[0]]; ok {
				v, err := strconv.ParseInt(fs[1], 10, 64)
				if err != nil {
					return fmt.Errorf("parsing %s in %s: %w", fs[0], p, err)
				}
				*dst = v
			}
		}
	}
	return sc.Err()
}
