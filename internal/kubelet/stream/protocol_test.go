package stream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/client-go/util/exec"

	"github.com/podvisor/podvisor/internal/runtime/oci"
)

// transports are the two ways kubectl reaches exec and attach.
var transports = []string{"websocket", "spdy"}

func executor(t *testing.T, cfg *rest.Config, transport, rawURL string) remotecommand.Executor {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	var ex remotecommand.Executor
	if transport == "websocket" {
		ex, err = remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
	} else {
		ex, err = remotecommand.NewSPDYExecutor(cfg, "POST", u)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// execRuntime runs fake commands: "echo" copies stdin to stdout and
// "err" to stderr; "exit N" returns N; "size" prints terminal sizes
// until stdin ends; "missing" fails to start.
func execRuntime() *fakeRuntime {
	return &fakeRuntime{
		status: map[string]oci.ContainerStatus{
			"c1":   {ID: "c1", Name: "app", State: oci.StateRunning},
			"dead": {ID: "dead", Name: "old", State: oci.StateExited},
		},
		exec: func(ctx context.Context, id string, ec oci.ExecConfig) (int, error) {
			switch ec.Args[0] {
			case "echo":
				io.Copy(ec.Stdout, ec.Stdin)
				return 0, nil
			case "err":
				b, _ := io.ReadAll(ec.Stdin)
				ec.Stderr.Write(b)
				return 1, nil
			case "exit":
				var n int
				fmt.Sscan(ec.Args[1], &n)
				if ec.Stdout != nil {
					fmt.Fprintf(ec.Stdout, "exiting %d\n", n)
				}
				return n, nil
			case "size":
				if !ec.TTY || ec.Resize == nil {
					return 2, nil
				}
				sz := <-ec.Resize
				fmt.Fprintf(ec.Stdout, "%dx%d\n", sz.Width, sz.Height)
				return 0, nil
			case "missing":
				return 255, fmt.Errorf("%w: exec: \"missing\": executable file not found in $PATH", oci.ErrExecStart)
			}
			return 127, nil
		},
	}
}

func execPods() *fakePods {
	return &fakePods{
		pods: []PodState{{
			Pod:   &corev1.Pod{ObjectMeta: metav1ObjectMeta("ns", "web", "uid-1")},
			UID:   "uid-1",
			NetNS: "/run/netns/web",
			Containers: []ContainerRef{
				{Name: "app", ID: "c1", Running: true, Stdin: true, TTY: true},
				{Name: "plain", ID: "c1", Running: true},
				{Name: "old", ID: "dead"},
				{Name: "waiting"},
			},
		}},
		previous: map[string]ContainerRef{"ns/web/app": {Name: "app", ID: "prev"}},
		waiting:  map[string]bool{"ns/web/waiting": true},
	}
}

type fixedSizes struct {
	once sync.Once
	size remotecommand.TerminalSize
}

func (f *fixedSizes) Next() *remotecommand.TerminalSize {
	var out *remotecommand.TerminalSize
	f.once.Do(func() { out = &f.size })
	if out == nil {
		select {} // no more sizes: the client stops asking when done
	}
	return out
}

func TestExec(t *testing.T) {
	ts := startTestServer(t, Config{}, Deps{Pods: execPods(), Runtime: execRuntime()})
	cfg := ts.restConfig(t, DefaultAPIServerClient)
	for _, tr := range transports {
		tests := []struct {
			name       string
			query      string
			stdin      string
			tty        *fixedSizes
			wantStdout string
			wantStderr string
			wantCode   int
			wantErr    string
		}{
			{name: "stdin to stdout", query: "command=echo&input=1&output=1&error=1", stdin: "hello\n", wantStdout: "hello\n"},
			{name: "stderr and exit 1", query: "command=err&input=1&output=1&error=1", stdin: "oops", wantStderr: "oops", wantCode: 1},
			{name: "exit code 42", query: "command=exit&command=42&output=1&error=1", wantStdout: "exiting 42\n", wantCode: 42},
			{name: "exit code 0", query: "command=exit&command=0&output=1", wantStdout: "exiting 0\n"},
			{name: "tty resize", query: "command=size&input=1&output=1&tty=1", tty: &fixedSizes{size: remotecommand.TerminalSize{Width: 120, Height: 40}}, wantStdout: "120x40\n"},
			{name: "start failure", query: "command=missing&output=1", wantErr: "executable file not found"},
		}
		for _, tc := range tests {
			t.Run(tr+"/"+tc.name, func(t *testing.T) {
				ex := executor(t, cfg, tr, ts.url+"/exec/ns/web/app?"+tc.query)
				var stdout, stderr bytes.Buffer
				opts := remotecommand.StreamOptions{Stdout: &stdout}
				if strings.Contains(tc.query, "input=1") {
					opts.Stdin = strings.NewReader(tc.stdin)
				}
				if strings.Contains(tc.query, "error=1") {
					opts.Stderr = &stderr
				}
				if tc.tty != nil {
					opts.Tty, opts.TerminalSizeQueue = true, tc.tty
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				err := ex.StreamWithContext(ctx, opts)
				code := 0
				var ce exec.CodeExitError
				switch {
				case errors.As(err, &ce):
					code = ce.Code
				case tc.wantErr != "":
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
					}
					return
				case err != nil:
					t.Fatalf("stream: %v", err)
				}
				if code != tc.wantCode {
					t.Errorf("got exit code %d, want %d", code, tc.wantCode)
				}
				if got := stdout.String(); got != tc.wantStdout {
					t.Errorf("got stdout %q, want %q", got, tc.wantStdout)
				}
				if got := stderr.String(); got != tc.wantStderr {
					t.Errorf("got stderr %q, want %q", got, tc.wantStderr)
				}
			})
		}
	}
}

func TestExecRefused(t *testing.T) {
	ts := startTestServer(t, Config{}, Deps{Pods: execPods(), Runtime: execRuntime()})
	cfg := ts.restConfig(t, DefaultAPIServerClient)
	tests := []struct {
		name, path string
		want       string
	}{
		{name: "unknown pod", path: "/exec/ns/nope/app?command=ls&output=1", want: "not found"},
		{name: "unknown container", path: "/exec/ns/web/nope?command=ls&output=1", want: "not found"},
		{name: "exited container", path: "/exec/ns/web/old?command=ls&output=1", want: "not running"},
		{name: "container not started", path: "/exec/ns/web/waiting?command=ls&output=1", want: "waiting to start: container not started: ContainerCreating"},
		{name: "no command", path: "/exec/ns/web/app?output=1", want: "command"},
	}
	for _, tr := range transports {
		for _, tc := range tests {
			t.Run(tr+"/"+tc.name, func(t *testing.T) {
				ex := executor(t, cfg, tr, ts.url+tc.path)
				err := ex.StreamWithContext(context.Background(), remotecommand.StreamOptions{Stdout: io.Discard})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("got error %v, want one containing %q", err, tc.want)
				}
			})
		}
	}
}

func TestExecNotUpgraded(t *testing.T) {
	ts := startTestServer(t, Config{}, Deps{Pods: execPods(), Runtime: execRuntime()})
	c := httpClient(t, ts.restConfig(t, DefaultAPIServerClient))
	resp, err := c.Post(ts.url+"/exec/ns/web/app?command=ls&output=1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("got %d, want 400", resp.StatusCode)
	}
}

func TestAttach(t *testing.T) {
	rt := execRuntime()
	type attachCall struct {
		Stdin, Resize bool
	}
	calls := make(chan attachCall, 8)
	rt.attach = func(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, resize <-chan oci.TermSize) error {
		calls <- attachCall{Stdin: stdin != nil, Resize: resize != nil}
		if stdin != nil {
			io.Copy(stdout, stdin) // output from now on: here, the input
			return nil
		}
		fmt.Fprint(stdout, "out\n")
		if stderr != nil {
			fmt.Fprint(stderr, "err\n")
		}
		return nil
	}
	ts := startTestServer(t, Config{}, Deps{Pods: execPods(), Runtime: rt})
	cfg := ts.restConfig(t, DefaultAPIServerClient)
	for _, tr := range transports {
		tests := []struct {
			name, path, stdin string
			tty               bool
			wantOut, wantErr  string
			wantCall          attachCall
		}{
			{name: "tty container", path: "/attach/ns/web/app?input=1&output=1&tty=1", stdin: "typed\n", tty: true,
				wantOut: "typed\n", wantCall: attachCall{Stdin: true, Resize: true}},
			{name: "plain container gets no stdin", path: "/attach/ns/web/plain?input=1&output=1&error=1", stdin: "ignored",
				wantOut: "out\n", wantErr: "err\n", wantCall: attachCall{}},
		}
		for _, tc := range tests {
			t.Run(tr+"/"+tc.name, func(t *testing.T) {
				ex := executor(t, cfg, tr, ts.url+tc.path)
				var stdout, stderr bytes.Buffer
				opts := remotecommand.StreamOptions{Stdin: strings.NewReader(tc.stdin), Stdout: &stdout, Tty: tc.tty}
				if !tc.tty {
					opts.Stderr = &stderr
				} else {
					opts.TerminalSizeQueue = &fixedSizes{size: remotecommand.TerminalSize{Width: 80, Height: 24}}
				}
				if err := ex.StreamWithContext(context.Background(), opts); err != nil {
					t.Fatalf("attach: %v", err)
				}
				if d := cmp.Diff(tc.wantCall, <-calls); d != "" {
					t.Errorf("runtime attach (-want +got):\n%s", d)
				}
				if stdout.String() != tc.wantOut || stderr.String() != tc.wantErr {
					t.Errorf("got stdout %q stderr %q, want %q and %q", stdout.String(), stderr.String(), tc.wantOut, tc.wantErr)
				}
			})
		}
	}
}

func httpClient(t *testing.T, cfg *rest.Config) *http.Client {
	t.Helper()
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// echoServer accepts connections and echoes them, upper-cased, until
// the test ends.
func echoServer(t *testing.T) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write(bytes.ToUpper(b))
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}

func TestPortForward(t *testing.T) {
	echo := echoServer(t)
	type dialCall struct {
		NetNS string
		Port  int32
	}
	dials := make(chan dialCall, 16)
	dial := func(ctx context.Context, netns string, port int32) (net.Conn, error) {
		dials <- dialCall{netns, port}
		if port == 81 {
			return nil, errors.New("connection refused")
		}
		var d net.Dialer
		return d.DialContext(ctx, "tcp", echo.String())
	}
	ts := startTestServer(t, Config{}, Deps{Pods: execPods(), Runtime: execRuntime(), Dial: dial})
	cfg := ts.restConfig(t, DefaultAPIServerClient)
	u, _ := url.Parse(ts.url + "/portForward/ns/web")
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			fw, stop := forwarder(t, cfg, tr, u, []string{"0:80", "0:81"})
			defer stop()
			ports, err := fw.GetPorts()
			if err != nil {
				t.Fatal(err)
			}
			// Port 80 reaches the pod.
			for i := range 2 {
				c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(c, "ping %d", i)
				c.(*net.TCPConn).CloseWrite()
				got, _ := io.ReadAll(c)
				c.Close()
				if want := fmt.Sprintf("PING %d", i); string(got) != want {
					t.Errorf("got %q through the forward, want %q", got, want)
				}
				if d := cmp.Diff(dialCall{"/run/netns/web", 80}, <-dials); d != "" {
					t.Errorf("dial (-want +got):\n%s", d)
				}
			}
			// Port 81 is refused in the pod: the client's connection
			// ends without data.
			c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[1].Local))
			if err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			got, _ := io.ReadAll(c)
			c.Close()
			if len(got) != 0 {
				t.Errorf("got %q from a refused port, want nothing", got)
			}
			if d := cmp.Diff(dialCall{"/run/netns/web", 81}, <-dials); d != "" {
				t.Errorf("dial (-want +got):\n%s", d)
			}
		})
	}
}

// forwarder starts client-go's port forwarder over transport.
func forwarder(t *testing.T, cfg *rest.Config, transport string, u *url.URL, ports []string) (*portforward.PortForwarder, func()) {
	t.Helper()
	var d httpstreamDialer
	var err error
	if transport == "websocket" {
		d, err = portforward.NewSPDYOverWebsocketDialer(u, cfg)
	} else {
		var rt http.RoundTripper
		var up spdy.Upgrader
		rt, up, err = spdy.RoundTripperFor(cfg)
		if err == nil {
			d = spdy.NewDialer(up, &http.Client{Transport: rt}, "POST", u)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	stopCh, readyCh := make(chan struct{}), make(chan struct{})
	fw, err := portforward.NewOnAddresses(d, []string{"127.0.0.1"}, ports, stopCh, readyCh, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-readyCh:
	case err := <-errc:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("port-forward not ready after 30s")
	}
	return fw, func() {
		close(stopCh)
		<-errc
	}
}
