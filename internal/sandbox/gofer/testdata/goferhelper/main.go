// Command goferhelper runs a confined Gofer for the gofer package's
// integration tests, the way `visor gofer` does: in the new mount
// namespace it was started in, it opens the tree, confines itself, reports
// what a compromised Gofer could still do, then serves descriptor 3.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/gofer"
)

func main() {
	root := flag.String("root", "", "tree to serve and pivot into")
	readOnly := flag.Bool("ro", false, "serve read-only")
	probe := flag.String("probe", "", "host path to try opening after confinement")
	flag.Parse()
	g, err := gofer.Open(gofer.Config{Mounts: []gofer.MountConfig{{HostPath: *root, ReadOnly: *readOnly}}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := g.Confine(gofer.ConfineOptions{Root: *root, ReadOnlyRoot: *readOnly}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	_, inet := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	_, unixErr := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	_, probeErr := unix.Open(*probe, unix.O_RDONLY, 0)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	unix.Capget(&hdr, &data[0])
	pid, _, forkErr := unix.RawSyscall(unix.SYS_FORK, 0, 0, 0)
	if forkErr == 0 && pid == 0 {
		unix.Exit(0)
	}
	fmt.Printf("inet=%v unix=%v probe=%v capeff=%#x fork=%v\n", errName(inet), errName(unixErr), errName(probeErr),
		uint64(data[1].Effective)<<32|uint64(data[0].Effective), errName(forkErr))
	if err := g.Serve(context.Background(), []*os.File{os.NewFile(3, "conn")}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func errName(err error) string {
	switch err {
	case nil:
		return "ok"
	case unix.Errno(0):
		return "ok"
	case unix.EPERM:
		return "EPERM"
	case unix.ENOENT:
		return "ENOENT"
	}
	return err.Error()
}
