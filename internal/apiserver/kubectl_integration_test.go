//go:build integration

package apiserver_test

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// kubectlRunner runs the embedded kubectl of bin/podvisor against a server.
type kubectlRunner struct {
	t          *testing.T
	bin        string
	kubeconfig string
}

func (k kubectlRunner) cmd(stdin string, args ...string) *exec.Cmd {
	cmd := exec.Command(k.bin, append([]string{"kubectl", "--kubeconfig", k.kubeconfig}, args...)...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	return cmd
}

// run runs kubectl and returns its output; failure is fatal.
func (k kubectlRunner) run(stdin string, args ...string) string {
	k.t.Helper()
	out, err := k.cmd(stdin, args...).CombinedOutput()
	if err != nil {
		k.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// fail runs kubectl expecting it to fail and returns its output.
func (k kubectlRunner) fail(args ...string) string {
	k.t.Helper()
	out, err := k.cmd("", args...).CombinedOutput()
	if err == nil {
		k.t.Fatalf("kubectl %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

const manifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: fast
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 80
`

const ssaManifest = `apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
data:
  v: one
`

func TestKubectl(t *testing.T) {
	bin := servertest.Binary(t)
	s := servertest.Start(t, server.Config{})
	k := kubectlRunner{t: t, bin: bin, kubeconfig: s.Kubeconfig}
	n := ns(t, s.Client)

	steps := []struct {
		name  string
		stdin string
		args  []string
		want  []string // substrings of the output
	}{
		{"get namespaces", "", []string{"get", "ns"}, []string{"default", "kube-system", "kube-public", "kube-node-lease", n}},
		{"version", "", []string{"version"}, []string{"Server Version: v1.37.2+podvisor"}},
		{"api-resources", "", []string{"api-resources"}, []string{"deployments", "deploy", "apps/v1", "pods", "po", "rolebindings"}},
		{"apply", manifest, []string{"apply", "-n", n, "-f", "-"}, []string{"configmap/settings created", "deployment.apps/web created", "service/web created"}},
		{"apply again unchanged", manifest, []string{"apply", "-n", n, "-f", "-"}, []string{"configmap/settings unchanged", "deployment.apps/web unchanged"}},
		{"apply a change", strings.Replace(manifest, "mode: fast", "mode: slow", 1), []string{"apply", "-n", n, "-f", "-"}, []string{"configmap/settings configured"}},
		{"get several kinds", "", []string{"get", "-n", n, "deploy,svc,cm", "-o", "wide"}, []string{"deployment.apps/web", "service/web", "configmap/settings"}},
		{"get yaml", "", []string{"get", "-n", n, "cm", "settings", "-o", "yaml"}, []string{"mode: slow", "kubectl.kubernetes.io/last-applied-configuration"}},
		{"jsonpath", "", []string{"get", "-n", n, "svc", "web", "-o", "jsonpath={.spec.clusterIP}"}, []string{"10.43."}},
		{"describe", "", []string{"describe", "-n", n, "deploy", "web"}, []string{"Name:", "web", "Replicas:", "2 desired", "RollingUpdate"}},
		{"label", "", []string{"label", "-n", n, "cm", "settings", "tier=config"}, []string{"configmap/settings labeled"}},
		{"annotate", "", []string{"annotate", "-n", n, "cm", "settings", "owner=me"}, []string{"configmap/settings annotated"}},
		{"select by label", "", []string{"get", "-n", n, "cm", "-l", "tier=config", "-o", "name"}, []string{"configmap/settings"}},
		{"scale", "", []string{"scale", "-n", n, "deploy", "web", "--replicas=5"}, []string{"deployment.apps/web scaled"}},
		{"scaled", "", []string{"get", "-n", n, "deploy", "web", "-o", "jsonpath={.spec.replicas}"}, []string{"5"}},
		{"patch (edit)", "", []string{"patch", "-n", n, "deploy", "web", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.28"}]}}}}`}, []string{"deployment.apps/web patched"}},
		{"patched", "", []string{"get", "-n", n, "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}"}, []string{"nginx:1.28 3"}},
		{"create", "", []string{"create", "-n", n, "configmap", "extra", "--from-literal=a=b"}, []string{"configmap/extra created"}},
		{"run", "", []string{"run", "-n", n, "one", "--image=busybox", "--restart=Never"}, []string{"pod/one created"}},
		{"wait for a condition", "", []string{"wait", "-n", n, "--for=jsonpath={.status.phase}=Pending", "pod/one", "--timeout=20s"}, []string{"pod/one condition met"}},
		{"create token", "", []string{"create", "-n", n, "serviceaccount", "bot"}, []string{"serviceaccount/bot created"}},
		{"token", "", []string{"create", "-n", n, "token", "bot"}, []string{"eyJ"}},
		{"can-i yes", "", []string{"auth", "can-i", "create", "pods"}, []string{"yes"}},
		{"whoami", "", []string{"auth", "whoami"}, []string{"admin", "system:masters"}},
		{"delete", "", []string{"delete", "-n", n, "cm", "extra"}, []string{`configmap "extra" deleted`}},
		{"dry run", "", []string{"create", "-n", n, "configmap", "dry", "--dry-run=server"}, []string{"configmap/dry created (server dry run)"}},
		{"explain", "", []string{"explain", "deployment.spec.replicas"}, []string{"KIND:", "Deployment", "replicas", "<integer>"}},
		{"server-side apply", ssaManifest, []string{"apply", "--server-side", "-n", n, "-f", "-"}, []string{"configmap/ssa serverside-applied"}},
		{"managed fields", "", []string{"get", "-n", n, "cm", "ssa", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[0].manager} {.metadata.managedFields[0].operation}"}, []string{"kubectl Apply"}},
		{"server-side apply conflict", strings.Replace(ssaManifest, "v: one", "v: two", 1), []string{"apply", "--server-side", "--field-manager=other", "--force-conflicts", "-n", n, "-f", "-"}, []string{"configmap/ssa serverside-applied"}},
		{"table columns", "", []string{"get", "-n", n, "pods", "-o", "wide"}, []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "one", "0/1", "Pending"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			k.t = t
			out := k.run(st.stdin, st.args...)
			for _, w := range st.want {
				if !strings.Contains(out, w) {
					t.Errorf("kubectl %s: output lacks %q:\n%s", strings.Join(st.args, " "), w, out)
				}
			}
		})
	}
	k.t = t

	t.Run("can-i no", func(t *testing.T) {
		k.t = t
		out := k.fail("auth", "can-i", "create", "pods", "--as=bob")
		if !strings.Contains(out, "no") {
			t.Errorf("can-i as bob: %s", out)
		}
	})
	t.Run("errors reach the user", func(t *testing.T) {
		k.t = t
		out := k.fail("get", "-n", n, "cm", "missing")
		if !strings.Contains(out, `configmaps "missing" not found`) {
			t.Errorf("get missing: %s", out)
		}
		out = k.fail("create", "-n", n, "configmap", "Bad_Name")
		if !strings.Contains(out, "Invalid value") {
			t.Errorf("create bad name: %s", out)
		}
	})
	t.Run("wait for delete", func(t *testing.T) {
		k.t = t
		done := make(chan string, 1)
		go func() {
			out, _ := k.cmd("", "wait", "-n", n, "--for=delete", "cm/settings", "--timeout=30s").CombinedOutput()
			done <- string(out)
		}()
		time.Sleep(500 * time.Millisecond)
		k.run("", "delete", "-n", n, "cm", "settings")
		select {
		case out := <-done:
			if !strings.Contains(out, "deleted") && !strings.Contains(out, "condition met") {
				t.Errorf("wait --for=delete: %s", out)
			}
		case <-time.After(40 * time.Second):
			t.Fatal("kubectl wait --for=delete did not return")
		}
	})
	t.Run("watch", func(t *testing.T) {
		k.t = t
		var out bytes.Buffer
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "kubectl", "--kubeconfig", s.Kubeconfig, "get", "-n", n, "cm", "-w", "--output-watch-events")
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		k.run("", "create", "-n", n, "configmap", "watched", "--from-literal=x=y")
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(out.String(), "watched") && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		cancel()
		cmd.Wait()
		if !strings.Contains(out.String(), "ADDED") || !strings.Contains(out.String(), "watched") {
			t.Errorf("kubectl get -w output:\n%s", out.String())
		}
	})
}
