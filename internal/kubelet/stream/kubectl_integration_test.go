//go:build integration

package stream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podvisor/podvisor/internal/pki"
	"github.com/podvisor/podvisor/internal/runtime/oci"
	"github.com/podvisor/podvisor/internal/server"
	"github.com/podvisor/podvisor/internal/testutil/servertest"
)

// TestKubectl drives the embedded kubectl against a real API server whose
// node is this test's kubelet server over real runc containers: logs -f,
// exec (exit codes, -it on a pty), cp both ways, attach, port-forward and
// top.
func TestKubectl(t *testing.T) {
	n := newNode(t)
	n.run("app", nil, "sh", "-c", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done")
	n.run("httpd", nil, "sh", "-c", "mkdir -p /www && echo served-by-httpd > /www/index.html && exec httpd -f -p 8080 -h /www")
	n.run("cat", func(c *oci.ContainerConfig) { c.Stdin = true }, "sh", "-c", "while read l; do echo got:$l; done")

	ts := servertest.Start(t, server.Config{})
	ctx := context.Background()
	bin := servertest.Binary(t)
	tlsDir := filepath.Join(ts.DataDir, "tls")
	ca, err := pki.EnsureCA(filepath.Join(tlsDir, "ca.crt"), filepath.Join(tlsDir, "ca.key"), "podvisor-ca")
	if err != nil {
		t.Fatal(err)
	}
	kdir := t.TempDir()
	if err := pki.EnsureCert(ca, filepath.Join(kdir, "k.crt"), filepath.Join(kdir, "k.key"),
		pki.CertSpec{CommonName: "node-a", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true}); err != nil {
		t.Fatal(err)
	}
	kcert, err := tls.LoadX509KeyPair(filepath.Join(kdir, "k.crt"), filepath.Join(kdir, "k.key"))
	if err != nil {
		t.Fatal(err)
	}
	// The API's pod is the node's pod.
	if _, err := ts.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	api := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: corev1.PodSpec{NodeName: "node-a",
		Containers: []corev1.Container{{Name: "app", Image: "busybox"}, {Name: "httpd", Image: "busybox"}, {Name: "cat", Image: "busybox", Stdin: true}}}}
	if api, err = ts.Client.CoreV1().Pods("ns").Create(ctx, api, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// What the kubelet would report (kubectl port-forward checks it).
	api.Status.Phase = corev1.PodRunning
	if api, err = ts.Client.CoreV1().Pods("ns").UpdateStatus(ctx, api, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	n.mu.Lock()
	n.pod.Pod, n.pod.UID = api, api.UID
	n.mu.Unlock()
	s, err := New(Config{NodeName: "node-a", ClientCAs: ca.Pool(), StatsInterval: 200 * time.Millisecond,
		Certificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &kcert, nil }},
		Deps{Pods: n, Runtime: n.rt, Logger: servertest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- s.Serve(sctx, ln) }()
	t.Cleanup(func() { stop(); <-served })
	node, err := ts.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(ln.Addr().(*net.TCPAddr).Port)
	node.Status.Capacity = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")}
	node.Status.Allocatable = node.Status.Capacity
	if _, err := ts.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) *exec.Cmd {
		return exec.Command(bin, append([]string{"kubectl", "--kubeconfig", ts.Kubeconfig, "-n", "ns"}, args...)...)
	}
	run := func(t *testing.T, stdin string, args ...string) string {
		t.Helper()
		cmd := kubectl(args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	t.Run("exec exit code", func(t *testing.T) {
		err := kubectl("exec", "web", "-c", "app", "--", "sh", "-c", "exit 3").Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("kubectl exec: %v, want exit status 3", err)
		}
		if out := run(t, "piped\n", "exec", "-i", "web", "-c", "app", "--", "cat"); out != "piped\n" {
			t.Errorf("kubectl exec -i cat: %q", out)
		}
	})
	t.Run("exec -it on a pty", func(t *testing.T) {
		master, slave, err := openPTY()
		if err != nil {
			t.Fatal(err)
		}
		defer master.Close()
		cmd := kubectl("exec", "-it", "web", "-c", "app", "--", "sh")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		slave.Close()
		var out syncBuffer
		copied := make(chan struct{})
		go func() { io.Copy(&out, master); close(copied) }()
		io.WriteString(master, "echo pty-$((40+2)); tty; exit 4\n")
		err = cmd.Wait()
		master.Close()
		<-copied
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 4 {
			t.Errorf("kubectl exec -it: %v, want exit status 4; output %q", err, out.String())
		}
		if !strings.Contains(out.String(), "pty-42") || !strings.Contains(out.String(), "/dev/pts/") {
			t.Errorf("kubectl exec -it output %q, want pty-42 and a pts name", out.String())
		}
	})
	t.Run("cp both ways", func(t *testing.T) {
		dir := t.TempDir()
		src := filepath.Join(dir, "in.txt")
		data := bytes.Repeat([]byte("podvisor cp\n"), 5000)
		os.WriteFile(src, data, 0o644)
		run(t, "", "cp", src, "ns/web:/tmp/in.txt", "-c", "app")
		if out := run(t, "", "exec", "web", "-c", "app", "--", "wc", "-c", "/tmp/in.txt"); !strings.Contains(out, fmt.Sprint(len(data))) {
			t.Errorf("file in the container: %q, want %d bytes", out, len(data))
		}
		dst := filepath.Join(dir, "out.txt")
		run(t, "", "cp", "ns/web:/tmp/in.txt", dst, "-c", "app")
		if got, _ := os.ReadFile(dst); !bytes.Equal(got, data) {
			t.Errorf("copied back %d bytes, want the %d sent", len(got), len(data))
		}
	})
	t.Run("logs -f", func(t *testing.T) {
		cmd := kubectl("logs", "-f", "web", "-c", "app", "--tail=1")
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		br := bufio.NewReader(stdout)
		for range 3 { // lines keep arriving
			line, err := br.ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "tick ") {
				t.Fatalf("kubectl logs -f: %q, %v", line, err)
			}
		}
	})
	t.Run("attach", func(t *testing.T) {
		cmd := kubectl("attach", "-i", "web", "-c", "cat")
		stdin, _ := cmd.StdinPipe()
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(out.String(), "got:hello") && time.Now().Before(deadline) {
			io.WriteString(stdin, "hello\n")
			time.Sleep(200 * time.Millisecond)
		}
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if !strings.Contains(out.String(), "got:hello") {
			t.Errorf("kubectl attach output %q", out.String())
		}
	})
	t.Run("port-forward", func(t *testing.T) {
		cmd := kubectl("port-forward", "pod/web", ":8080")
		var stderr syncBuffer
		cmd.Stderr = &stderr
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		line, err := bufio.NewReader(stdout).ReadString('\n')
		m := regexp.MustCompile(`127\.0\.0\.1:(\d+)`).FindStringSubmatch(line)
		if err != nil || m == nil {
			t.Fatalf("kubectl port-forward said %q, %v; stderr %s", line, err, stderr.String())
		}
		resp, err := http.Get("http://127.0.0.1:" + m[1] + "/index.html")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "served-by-httpd\n" {
			t.Errorf("GET through kubectl port-forward: %q", b)
		}
	})
	t.Run("top", func(t *testing.T) {
		deadline := time.Now().Add(60 * time.Second)
		var out []byte
		for time.Now().Before(deadline) {
			out, err = kubectl("top", "pod", "web", "--containers").CombinedOutput()
			if err == nil && strings.Contains(string(out), "httpd") {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil || !strings.Contains(string(out), "httpd") || !strings.Contains(string(out), "app") {
			t.Errorf("kubectl top pod --containers: %v\n%s", err, out)
		}
		if out := run(t, "", "top", "node"); !strings.Contains(out, "node-a") {
			t.Errorf("kubectl top node:\n%s", out)
		}
	})
}

// openPTY opens a pseudo-terminal pair for driving kubectl -it.
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, err
	}
	num, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", num), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}
