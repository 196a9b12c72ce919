package oci

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Config holds the Runtime's settings.
type Config struct {
	// StateDir holds one directory per container (see the package doc).
	StateDir string
	// Handlers maps a runtime handler name (RuntimeClass handler) to its
	// binary; DefaultHandler is used when a pod names none.
	Handlers       map[string]Handler
	DefaultHandler string
	// ShimPath and ShimArgs start the shim: ShimPath ShimArgs... <flags>,
	// e.g. /usr/bin/podvisor-shim (no args) or /usr/bin/podvisor shim.
	// ShimEnv is added to its environment.
	ShimPath string
	ShimArgs []string
	ShimEnv  []string
	// CreateTimeout bounds `runtime create` (through the shim); 0 is 60s.
	CreateTimeout time.Duration
}

// Deps are the Runtime's collaborators.
type Deps struct {
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Runtime runs containers through OCI runtime binaries. Create it with
// New; it is safe for concurrent use.
type Runtime struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	locks map[string]*sync.Mutex // +checklocks:mu
	// pending are the containers this Runtime is creating or starting:
	// until CreateContainer or Start returns, Status reports them
	// created without asking the runtime, which would only say
	// "creating" or "created" (the kubelet's relist polls every
	// container each second; dozens of runc execs per second while many
	// containers start would compete with the starts themselves).
	pending map[string]bool // +checklocks:mu
}

// State is a container's life-cycle state.
type State string

// Container states.
const (
	StateCreated State = "created"
	StateRunning State = "running"
	StateExited  State = "exited"
	// StateUnknown: the runtime lost the container and no exit was
	// recorded (e.g. the host rebooted).
	StateUnknown State = "unknown"
)

// Termination reasons, as Kubernetes reports them.
const (
	ReasonCompleted = "Completed"
	ReasonError     = "Error"
	ReasonOOMKilled = "OOMKilled"
)

// ContainerStatus is what the runtime knows about one container.
type ContainerStatus struct {
	ID           string
	Name         string
	Attempt      int
	PodID        string
	PodName      string
	PodNamespace string
	Handler      string
	State        State
	// Pid is the init's pid in the host pid namespace while it runs.
	Pid        int
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	ExitCode   int
	// Reason is Completed, Error or OOMKilled once exited.
	Reason string
	// Message is the container's termination message (at most 4096
	// bytes), or why the exit status was lost.
	Message string
	LogPath string
	Labels  map[string]string
}

// containerMeta is meta.json: what CreateContainer was asked.
type containerMeta struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Attempt      int       `json:"attempt"`
	PodID        string    `json:"podID"`
	PodName      string    `json:"podName"`
	PodNamespace string    `json:"podNamespace"`
	Handler      string    `json:"handler"`
	CreatedAt    time.Time `json:"createdAt"`
	StartedAt    time.Time `json:"startedAt,omitzero"`
	// Starting is set (and written) before `runtime start` runs: until
	// then a live init means "created" without asking the runtime;
	// after it, only StartedAt or the runtime's state tell.
	Starting    bool   `json:"starting,omitempty"`
	LogPath     string `json:"logPath"`
	CgroupsPath string `json:"cgroupsPath"`
	TermLog     string `json:"termLog,omitempty"`
	ShimPid     int    `json:"shimPid"`
	// ShimStart is the shim's start time (clock ticks since boot, from
	// /proc/<pid>/stat): a pid alone may be reused after a restart.
	ShimStart uint64            `json:"shimStart"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// New returns a Runtime; it creates cfg.StateDir.
func New(cfg Config, deps Deps) (*Runtime, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("runtime: no state dir")
	}
	if cfg.ShimPath == "" {
		return nil, errors.New("runtime: no shim path")
	}
	if _, ok := cfg.Handlers[cfg.DefaultHandler]; !ok {
		return nil, fmt.Errorf("runtime: default handler %q is not configured", cfg.DefaultHandler)
	}
	if cfg.CreateTimeout == 0 {
		cfg.CreateTimeout = 60 * time.Second
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "containers"), 0o700); err != nil {
		return nil, fmt.Errorf("creating runtime state dir: %w", err)
	}
	now := deps.Now
	if now == nil {
		now = time.Now
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runtime{cfg: cfg, log: log, now: now, locks: map[string]*sync.Mutex{}, pending: map[string]bool{}}, nil
}

func (r *Runtime) lock(id string) func() {
	r.mu.Lock()
	l, ok := r.locks[id]
	if !ok {
		l = &sync.Mutex{}
		r.locks[id] = l
	}
	r.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// setPending marks id as being created or started (see pending) and
// returns the function that unmarks it.
func (r *Runtime) setPending(id string) func() {
	r.mu.Lock()
	r.pending[id] = true
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.pending, id)
		r.mu.Unlock()
	}
}

func (r *Runtime) isPending(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pending[id]
}

func (r *Runtime) forget(id string) {
	r.mu.Lock()
	delete(r.locks, id)
	r.mu.Unlock()
}

func (r *Runtime) dir(id string) string { return filepath.Join(r.cfg.StateDir, "containers", id) }

func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'f' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func (r *Runtime) meta(id string) (*containerMeta, error) {
	if !validID(id) {
		return nil, fmt.Errorf("container %q: %w", id, ErrNotFound)
	}
	b, err := os.ReadFile(filepath.Join(r.dir(id), "meta.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("container %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading container %s: %w", id, err)
	}
	var m containerMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding container %s meta: %w", id, err)
	}
	return &m, nil
}

func (r *Runtime) handler(name string) (Handler, error) {
	if name == "" {
		name = r.cfg.DefaultHandler
	}
	h, ok := r.cfg.Handlers[name]
	if !ok {
		return Handler{}, fmt.Errorf("runtime handler %q is not configured", name)
	}
	return h, nil
}

// CreateContainer writes the bundle for cfg in sb, starts the container's
// shim, and returns once the runtime has created it (state "created": the
// process exists but has not run). Call Start to run it.
//
// Errors: bad config (no command, unknown capability, …) and runtime
// failures (with the runtime's message) are returned; nothing is left
// behind on error.
func (r *Runtime) CreateContainer(ctx context.Context, sb PodSandbox, cfg ContainerConfig) (string, error) {
	h, err := r.handler(sb.Handler)
	if err != nil {
		return "", err
	}
	var rnd [12]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", fmt.Errorf("generating container id: %w", err)
	}
	id := hex.EncodeToString(rnd[:])
	unlock := r.lock(id)
	defer unlock()
	defer r.setPending(id)()
	dir := r.dir(id)
	if err := os.MkdirAll(filepath.Join(dir, "bundle"), 0o700); err != nil {
		return "", fmt.Errorf("creating container dir: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(dir)
			r.forget(id)
		}
	}()
	termLog := ""
	if cfg.TerminationMessagePath != "" {
		termLog = filepath.Join(dir, "termination-log")
		if err := os.WriteFile(termLog, nil, 0o666); err != nil {
			return "", fmt.Errorf("creating termination log: %w", err)
		}
		os.Chmod(termLog, 0o666)
	}
	spec, err := BuildSpec(id, sb, cfg, termLog)
	if err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return "", fmt.Errorf("encoding spec: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bundle", "config.json"), b, 0o600); err != nil {
		return "", fmt.Errorf("writing config.json: %w", err)
	}
	lc := cfg.Log
	if lc.Path == "" {
		lc.Path = filepath.Join(dir, "container.log")
	}
	if err := os.MkdirAll(filepath.Dir(lc.Path), 0o755); err != nil {
		return "", fmt.Errorf("creating log dir: %w", err)
	}
	m := &containerMeta{
		ID: id, Name: cfg.Name, Attempt: cfg.Attempt, PodID: sb.ID, PodName: sb.Name,
		PodNamespace: sb.Namespace, Handler: sb.Handler, CreatedAt: r.now().UTC(),
		LogPath: lc.Path, CgroupsPath: spec.Linux.CgroupsPath, TermLog: termLog, Labels: cfg.Labels,
	}
	if m.Handler == "" {
		m.Handler = r.cfg.DefaultHandler
	}
	if err := writeJSONAtomic(filepath.Join(dir, "meta.json"), m); err != nil {
		return "", fmt.Errorf("writing container meta: %w", err)
	}
	pid, err := r.startShim(ctx, h, id, dir, lc, cfg.Stdin, cfg.TTY)
	if err != nil {
		// The runtime may have half-created it.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		h.delete(dctx, id, true)
		cancel()
		return "", fmt.Errorf("creating container %q: %w", cfg.Name, err)
	}
	m.ShimPid = pid
	m.ShimStart, _ = procStart(pid)
	if err := writeJSONAtomic(filepath.Join(dir, "meta.json"), m); err != nil {
		return "", fmt.Errorf("writing container meta: %w", err)
	}
	ok = true
	r.log.Debug("container created", "container", cfg.Name, "id", id, "pod", sb.Name, "namespace", sb.Namespace)
	return id, nil
}

// startShim starts the shim and waits for its report; it returns the
// shim's pid.
func (r *Runtime) startShim(ctx context.Context, h Handler, id, dir string, lc LogConfig, stdin, tty bool) (int, error) {
	syncR, syncW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("sync pipe: %w", err)
	}
	defer syncR.Close()
	diag, err := os.OpenFile(filepath.Join(dir, "shim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		syncW.Close()
		return 0, fmt.Errorf("opening shim log: %w", err)
	}
	defer diag.Close()
	args := append(append([]string(nil), r.cfg.ShimArgs...), shimArgs(h, id, dir, lc, stdin, tty)...)
	cmd := exec.Command(r.cfg.ShimPath, args...)
	cmd.Stdout, cmd.Stderr = diag, diag
	cmd.ExtraFiles = []*os.File{syncW}
	cmd.Env = append(os.Environ(), r.cfg.ShimEnv...)
	cmd.Dir = dir
	// Its own session and process group: a signal to the agent's group
	// (Ctrl-C, systemd stopping the agent) must not reach containers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		syncW.Close()
		return 0, fmt.Errorf("starting shim: %w", err)
	}
	syncW.Close()
	pid := cmd.Process.Pid
	// The shim is reaped by Remove (reapShim), not by a goroutine here:
	// it outlives this call and, by design, the agent.
	cmd.Process.Release()
	deadline := time.Now().Add(r.cfg.CreateTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	syncR.SetReadDeadline(deadline)
	line, rerr := bufio.NewReader(syncR).ReadString('\n')
	line = strings.TrimSpace(line)
	if rest, ok := strings.CutPrefix(line, "ok "); ok && rerr == nil {
		if _, err := strconv.Atoi(rest); err != nil {
			return 0, fmt.Errorf("shim reported %q", line)
		}
		return pid, nil
	}
	unix.Kill(pid, unix.SIGKILL)
	reapShim(pid, 0, 5*time.Second)
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return 0, errors.New(msg)
	}
	diagText, _ := os.ReadFile(filepath.Join(dir, "shim.log"))
	return 0, fmt.Errorf("shim gave no report (%v): %s", rerr, strings.TrimSpace(string(diagText)))
}

// reapShim waits up to timeout for the shim pid to exit, reaping it if it
// is this process's child (started by this agent) and polling otherwise
// (adopted after a restart).
func reapShim(pid int, start uint64, timeout time.Duration) bool {
	if pid <= 0 {
		return true
	}
	end := time.Now().Add(timeout)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		switch {
		case got == pid:
			return true
		case errors.Is(err, unix.ECHILD):
			// Not our child (adopted): gone, or its pid now names
			// another process.
			if st, err := procStart(pid); err != nil || (start != 0 && st != start) {
				return true
			}
		}
		if time.Now().After(end) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Start runs a created container's process.
func (r *Runtime) Start(ctx context.Context, id string) error {
	unlock := r.lock(id)
	defer unlock()
	m, err := r.meta(id)
	if err != nil {
		return err
	}
	h, err := r.handler(m.Handler)
	if err != nil {
		return err
	}
	defer r.setPending(id)()
	m.Starting = true
	if err := writeJSONAtomic(filepath.Join(r.dir(id), "meta.json"), m); err != nil {
		return fmt.Errorf("recording start of %s: %w", id, err)
	}
	// The time before `start`: the process may exit before it returns.
	startedAt := r.now().UTC()
	if err := h.start(ctx, id); err != nil {
		return fmt.Errorf("starting container %s: %w", id, err)
	}
	m.StartedAt = startedAt
	if err := writeJSONAtomic(filepath.Join(r.dir(id), "meta.json"), m); err != nil {
		return fmt.Errorf("recording start of %s: %w", id, err)
	}
	return nil
}

func (r *Runtime) readExit(id string) (*ExitRecord, error) {
	b, err := os.ReadFile(filepath.Join(r.dir(id), "exit.json"))
	if err != nil {
		return nil, err
	}
	var e ExitRecord
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decoding exit record of %s: %w", id, err)
	}
	return &e, nil
}

// Status returns a container's state. An exited container keeps its
// status until Remove. Errors: ErrNotFound for an unknown id.
func (r *Runtime) Status(ctx context.Context, id string) (ContainerStatus, error) {
	m, err := r.meta(id)
	if err != nil {
		return ContainerStatus{}, err
	}
	st := ContainerStatus{
		ID: m.ID, Name: m.Name, Attempt: m.Attempt, PodID: m.PodID, PodName: m.PodName,
		PodNamespace: m.PodNamespace, Handler: m.Handler, CreatedAt: m.CreatedAt,
		StartedAt: m.StartedAt, LogPath: m.LogPath, Labels: m.Labels,
	}
	if e, err := r.readExit(id); err == nil {
		r.fillExit(&st, m, e)
		return st, nil
	}
	if r.isPending(id) {
		st.State = StateCreated
		return st, nil
	}
	// Fast path, no fork: no exit recorded, and both the shim and the
	// init alive means running once started, and created if no start was
	// ever attempted (Start marks its attempt first, so a start cut short
	// by an agent crash is not taken for "created"). Anything else asks
	// the runtime.
	if (!m.StartedAt.IsZero() || !m.Starting) && m.shimAlive() {
		if pid := readPid(filepath.Join(r.dir(id), "init.pid")); alive(pid) {
			st.State, st.Pid = StateRunning, pid
			if m.StartedAt.IsZero() {
				st.State = StateCreated
			}
			return st, nil
		}
	}
	h, err := r.handler(m.Handler)
	if err != nil {
		return st, err
	}
	rs, err := h.state(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		st.State = StateUnknown
		st.Message = "the runtime has no such container and no exit was recorded"
		return st, nil
	case err != nil:
		return st, err
	}
	switch rs.Status {
	case "created", "creating":
		st.State = StateCreated
		st.Pid = rs.Pid
	case "running", "paused":
		st.State = StateRunning
		st.Pid = rs.Pid
	default: // stopped: the shim is writing exit.json, or died.
		if m.shimAlive() {
			for range 100 {
				if e, err := r.readExit(id); err == nil {
					r.fillExit(&st, m, e)
					return st, nil
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if e, err := r.readExit(id); err == nil {
			r.fillExit(&st, m, e)
			return st, nil
		}
		st.State, st.ExitCode, st.Reason = StateExited, 255, ReasonError
		st.Message = "the container stopped but its shim recorded no exit status"
	}
	return st, nil
}

// isShim reports whether m's shim pid still names the shim process it
// started (alive or a zombie not yet reaped).
func (m *containerMeta) isShim() bool {
	if m.ShimPid <= 0 {
		return false
	}
	st, err := procStart(m.ShimPid)
	return err == nil && (m.ShimStart == 0 || st == m.ShimStart)
}

// shimAlive reports whether the container's shim is running.
func (m *containerMeta) shimAlive() bool { return m.isShim() && alive(m.ShimPid) }

// procStart returns a process's start time from /proc/<pid>/stat
// (field 22, after the parenthesised command name).
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); field 22 is f[19].
	if len(f) < 20 {
		return 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	return strconv.ParseUint(f[19], 10, 64)
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if pid <= 0 || unix.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

func readPid(p string) int {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

func (r *Runtime) fillExit(st *ContainerStatus, m *containerMeta, e *ExitRecord) {
	st.State, st.ExitCode, st.FinishedAt = StateExited, e.ExitCode, e.FinishedAt
	switch {
	case e.OOMKilled:
		st.Reason = ReasonOOMKilled
	case e.ExitCode == 0:
		st.Reason = ReasonCompleted
	default:
		st.Reason = ReasonError
	}
	if e.Lost {
		st.Message = "exit status lost: the shim was not the container's reaper"
	}
	if m.TermLog != "" {
		if f, err := os.Open(m.TermLog); err == nil {
			b, _ := io.ReadAll(io.LimitReader(f, 4096))
			f.Close()
			if len(b) > 0 {
				st.Message = string(b)
			}
		}
	}
}

// List returns the status of every container in the state dir, sorted by
// creation time: after an agent restart this is how the kubelet re-adopts
// what is running.
func (r *Runtime) List(ctx context.Context) ([]ContainerStatus, error) {
	ents, err := os.ReadDir(filepath.Join(r.cfg.StateDir, "containers"))
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var out []ContainerStatus
	for _, e := range ents {
		if !validID(e.Name()) {
			continue
		}
		st, err := r.Status(ctx, e.Name())
		if errors.Is(err, ErrNotFound) {
			continue // being created or removed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.Before(out[j].CreatedAt) })
	return out, nil
}

// waitExit polls until the container has exited or d elapses; it reports
// whether it exited.
func (r *Runtime) waitExit(ctx context.Context, id string, d time.Duration) bool {
	end := time.NewTimer(d)
	defer end.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := os.Stat(filepath.Join(r.dir(id), "exit.json")); err == nil {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-end.C:
			return false
		case <-tick.C:
		}
	}
}

// Stop stops a container gracefully: SIGTERM to its init, then after
// grace SIGKILL to all its processes; it returns once the exit is
// recorded. Stopping an exited container is a no-op. Errors: ErrNotFound,
// ctx's error if it ends first, runtime failures.
func (r *Runtime) Stop(ctx context.Context, id string, grace time.Duration) error {
	unlock := r.lock(id)
	defer unlock()
	m, err := r.meta(id)
	if err != nil {
		return err
	}
	return r.stopLocked(ctx, m, grace)
}

func (r *Runtime) stopLocked(ctx context.Context, m *containerMeta, grace time.Duration) error {
	id := m.ID
	if _, err := r.readExit(id); err == nil {
		return nil
	}
	h, err := r.handler(m.Handler)
	if err != nil {
		return err
	}
	if grace > 0 {
		if err := h.kill(ctx, id, "TERM", false); err != nil && !errors.Is(err, ErrNotFound) {
			r.log.Debug("sigterm", "id", id, "err", err)
		}
		if r.waitExit(ctx, id, grace) {
			return nil
		}
	}
	if err := h.kill(ctx, id, "KILL", true); err != nil && !errors.Is(err, ErrNotFound) {
		if _, e := r.readExit(id); e != nil {
			r.log.Debug("sigkill", "id", id, "err", err)
		}
	}
	// SIGKILL cannot be ignored; the wait is bounded by ctx and by the
	// shim's lifetime.
	for !r.waitExit(ctx, id, time.Second) {
		if ctx.Err() != nil {
			return fmt.Errorf("stopping container %s: %w", id, ctx.Err())
		}
		if !m.shimAlive() {
			return fmt.Errorf("stopping container %s: its shim is gone and no exit was recorded", id)
		}
	}
	return nil
}

// Remove deletes a container: kills it if it still runs, deletes it from
// the runtime, waits for its shim and removes its state directory (and
// its log, if the log lives there; a caller-chosen log path is kept for
// `logs --previous`). Removing an unknown id is not an error.
func (r *Runtime) Remove(ctx context.Context, id string) error {
	unlock := r.lock(id)
	defer unlock()
	defer r.forget(id)
	m, err := r.meta(id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	h, err := r.handler(m.Handler)
	if err != nil {
		return err
	}
	if err := r.stopLocked(ctx, m, 0); err != nil {
		r.log.Debug("stop before remove", "id", id, "err", err)
	}
	if err := h.delete(ctx, id, true); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("deleting container %s: %w", id, err)
	}
	if m.isShim() && !reapShim(m.ShimPid, m.ShimStart, 10*time.Second) {
		unix.Kill(m.ShimPid, unix.SIGKILL)
		reapShim(m.ShimPid, m.ShimStart, time.Second)
	}
	if err := os.RemoveAll(r.dir(id)); err != nil {
		return fmt.Errorf("removing container dir: %w", err)
	}
	return nil
}

// Logs writes the container's log to w (see LogOptions). For
// `kubectl logs --previous` the kubelet passes the ID of the previous
// instance, which it keeps (not removed) until the next restart.
func (r *Runtime) Logs(ctx context.Context, id string, opts LogOptions, w io.Writer) error {
	m, err := r.meta(id)
	if err != nil {
		return err
	}
	exited := func() bool {
		_, err := os.Stat(filepath.Join(r.dir(id), "exit.json"))
		return err == nil || errors.Is(err, os.ErrNotExist) && !dirExists(r.dir(id))
	}
	return ReadLogs(ctx, m.LogPath, opts, w, exited)
}

func dirExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Stats reads the container's cgroup usage.
func (r *Runtime) Stats(ctx context.Context, id string) (Stats, error) {
	m, err := r.meta(id)
	if err != nil {
		return Stats{}, err
	}
	st, err := cgroupStats(m.CgroupsPath, r.now())
	if err != nil {
		return st, fmt.Errorf("stats of container %s: %w", id, err)
	}
	return st, nil
}
