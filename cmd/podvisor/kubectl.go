package main

import (
	"os"
	"path/filepath"
	"strings"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
)

// defaultDataDir is where `podvisor server` keeps its state unless told
// otherwise; PODVISOR_DATA_DIR overrides it for `podvisor kubectl`.
const defaultDataDir = "/var/lib/podvisor"

// runKubectl runs the embedded kubectl with args. Like k3s, it points
// kubectl at the server's admin kubeconfig unless the user chose one with
// KUBECONFIG or --kubeconfig.
func runKubectl(args []string) int {
	if os.Getenv("KUBECONFIG") == "" && !hasKubeconfigFlag(args) {
		dir := os.Getenv("PODVISOR_DATA_DIR")
		if dir == "" {
			dir = defaultDataDir
		}
		if p := filepath.Join(dir, "admin.kubeconfig"); fileExists(p) {
			os.Setenv("KUBECONFIG", p)
		}
	}
	cmd := kubectlcmd.NewKubectlCommand(kubectlcmd.KubectlOptions{
		IOStreams: genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
	})
	cmd.SetArgs(args)
	if err := cli.RunNoErrOutput(cmd); err != nil {
		cmdutil.CheckErr(err) // prints the error the way kubectl does and exits 1
	}
	return 0
}

func hasKubeconfigFlag(args []string) bool {
	for _, a := range args {
		if a == "--kubeconfig" || strings.HasPrefix(a, "--kubeconfig=") {
			return true
		}
	}
	return false
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
