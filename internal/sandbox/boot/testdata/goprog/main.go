// Command goprog is a static Go program run in the sandbox by the boot
// integration tests: the Go runtime exercises threads, futexes, epoll
// (its network poller, for pipes), signals (preemption with SIGURG,
// os/signal), timers, and fork+exec.
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	// CPU-bound goroutines on several threads (asynchronous preemption
	// sends SIGURG between them).
	runtime.GOMAXPROCS(4)
	var wg sync.WaitGroup
	sums := make([]string, 8)
	for i := range sums {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			h := sha256.New()
			for j := 0; j < 20000; j++ {
				fmt.Fprintf(h, "%d-%d", i, j)
			}
			sums[i] = fmt.Sprintf("%x", h.Sum(nil))[:12]
		}(i)
	}
	wg.Wait()
	fmt.Println("sums:", strings.Join(sums, " "))

	// A pipe through the network poller, with a timed reader.
	r, w, err := os.Pipe()
	if err != nil {
		fmt.Println("pipe:", err)
		os.Exit(1)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		io.WriteString(w, "through the poller")
		w.Close()
	}()
	r.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(r)
	fmt.Printf("pipe: %q %v\n", b, err)
	r2, w2, _ := os.Pipe()
	r2.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	_, err = r2.Read(make([]byte, 1))
	fmt.Println("deadline:", os.IsTimeout(err))
	w2.Close()

	// Files.
	if err := os.WriteFile("/tmp/goprog.out", []byte("written by Go\n"), 0o644); err != nil {
		fmt.Println("write:", err)
	}
	b, err = os.ReadFile("/tmp/goprog.out")
	fmt.Printf("file: %q %v\n", b, err)
	ents, _ := os.ReadDir("/etc")
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	fmt.Println("etc has passwd:", sort.SearchStrings(names, "passwd") < len(names))

	// Signals through os/signal.
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGUSR1)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	select {
	case s := <-ch:
		fmt.Println("signal:", s)
	case <-time.After(10 * time.Second):
		fmt.Println("signal: none")
	}

	// fork+exec with pipes.
	out, err := exec.Command("/bin/busybox", "echo", "from a child").Output()
	fmt.Printf("exec: %q %v\n", out, err)
	err = exec.Command("/bin/busybox", "sh", "-c", "exit 3").Run()
	fmt.Println("exit:", err)

	// Timers.
	start := time.Now()
	tk := time.NewTicker(10 * time.Millisecond)
	for i := 0; i < 5; i++ {
		<-tk.C
	}
	tk.Stop()
	fmt.Println("ticker ok:", time.Since(start) >= 45*time.Millisecond)
}
