package console

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPtyPair(t *testing.T) {
	master, slave, err := OpenPty()
	if err != nil {
		t.Fatalf("OpenPty: %v", err)
	}
	defer master.Close()
	defer slave.Close()
	if !IsTerminal(slave) {
		t.Error("slave is not a terminal")
	}
	want := Size{Rows: 33, Cols: 101}
	if err := SetSize(master, want); err != nil {
		t.Fatal(err)
	}
	got, err := GetSize(slave)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("slave size %+v, want %+v", got, want)
	}
	// Raw mode so the bytes pass unchanged.
	restore, err := MakeRaw(slave)
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	if _, err := slave.Write([]byte("out\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	n, err := master.Read(buf)
	if err != nil || string(buf[:n]) != "out\n" {
		t.Errorf("master read %q, %v; want %q", buf[:n], err, "out\n")
	}
}

// TestSendMaster sends a master through a console socket the way runc's
// callers expect and checks the received descriptor is the same pty.
func TestSendMaster(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan *os.File, 1)
	errc := make(chan error, 1)
	go func() {
		c, err := ln.AcceptUnix()
		if err != nil {
			errc <- err
			return
		}
		defer c.Close()
		f, err := RecvMaster(c)
		if err != nil {
			errc <- err
			return
		}
		got <- f
	}()
	master, slave, err := OpenPty()
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	if err := SendMaster(sock, master); err != nil {
		t.Fatalf("SendMaster: %v", err)
	}
	master.Close()
	var recv *os.File
	select {
	case recv = <-got:
	case err := <-errc:
		t.Fatalf("receiving: %v", err)
	}
	defer recv.Close()
	if recv.Name() != "/dev/ptmx" {
		t.Errorf("received name %q, want /dev/ptmx", recv.Name())
	}
	if _, err := MakeRaw(slave); err != nil {
		t.Fatal(err)
	}
	slave.Write([]byte("hi"))
	buf := make([]byte, 8)
	n, err := recv.Read(buf)
	if err != nil || string(buf[:n]) != "hi" {
		t.Errorf("read %q, %v from received master; want %q", buf[:n], err, "hi")
	}
}

func TestSendMasterNoSocket(t *testing.T) {
	master, slave, err := OpenPty()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	if err := SendMaster(filepath.Join(t.TempDir(), "none"), master); err == nil {
		t.Error("SendMaster to a missing socket succeeded")
	}
}

// TestProxy: input reaches the slave, slave output reaches out, and Proxy
// returns when the last slave descriptor closes.
func TestProxy(t *testing.T) {
	master, slave, err := OpenPty()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	if _, err := MakeRaw(slave); err != nil {
		t.Fatal(err)
	}
	// A blocking pipe, like a terminal: os.Pipe's would be non-blocking.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	inR, inW := os.NewFile(uintptr(p[0]), "in"), os.NewFile(uintptr(p[1]), "inw")
	defer inR.Close()
	defer inW.Close()
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- Proxy(context.Background(), master, inR, &out) }()
	inW.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(slave, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("slave read %q, %v; want ping", buf, err)
	}
	slave.Write([]byte("pong"))
	slave.Close()
	if err := <-done; err != nil {
		t.Fatalf("Proxy: %v", err)
	}
	if out.String() != "pong" {
		t.Errorf("out = %q, want pong", out.String())
	}
	// in's blocking mode is back.
	flags, err := unix.FcntlInt(uintptr(p[0]), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.O_NONBLOCK != 0 {
		t.Error("Proxy left stdin non-blocking")
	}
}

func TestProxyCancel(t *testing.T) {
	master, slave, err := OpenPty()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	defer slave.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer inR.Close()
	defer inW.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Proxy(ctx, master, inR, io.Discard) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Proxy after cancel: %v", err)
	}
}
