package host

import (
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// notifier watches host descriptors with epoll (edge-triggered) and
// notifies their wait queues when they become ready. Its goroutine runs
// from newNotifier until close.
type notifier struct {
	logger *slog.Logger
	epfd   int
	// wake is an eventfd that stops the goroutine.
	wake int
	done chan struct{}

	mu sync.Mutex
	// queues is guarded by mu.
	queues map[int32]*vfs.WaitQueue
}

func newNotifier(logger *slog.Logger) (*notifier, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("creating the host fd notifier: %w", err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("creating the host fd notifier: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}); err != nil {
		unix.Close(epfd)
		unix.Close(wake)
		return nil, fmt.Errorf("creating the host fd notifier: %w", err)
	}
	n := &notifier{logger: logger, epfd: epfd, wake: wake, done: make(chan struct{}), queues: make(map[int32]*vfs.WaitQueue)}
	go n.run()
	return n, nil
}

// add watches fd for q.
func (n *notifier) add(fd int, q *vfs.WaitQueue) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
	if err := unix.EpollCtl(n.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return err
	}
	n.queues[int32(fd)] = q
	return nil
}

// remove stops watching fd.
func (n *notifier) remove(fd int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	unix.EpollCtl(n.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	delete(n.queues, int32(fd))
}

func (n *notifier) run() {
	defer close(n.done)
	events := make([]unix.EpollEvent, 64)
	for {
		k, err := unix.EpollWait(n.epfd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			n.logger.Error("host fd notifier stopped", "err", err)
			return
		}
		for _, ev := range events[:k] {
			if ev.Fd == int32(n.wake) {
				return
			}
			n.mu.Lock()
			q := n.queues[ev.Fd]
			n.mu.Unlock()
			if q != nil {
				q.Notify(vfs.EventMask(ev.Events) & (vfs.EventReadable | vfs.EventWritable | vfs.EventErr | vfs.EventHUp | vfs.EventRdHUp))
			}
		}
	}
}

// close stops the goroutine and waits for it.
func (n *notifier) close() error {
	var one [8]byte
	one[0] = 1
	if _, err := unix.Write(n.wake, one[:]); err != nil {
		return fmt.Errorf("stopping the host fd notifier: %w", err)
	}
	<-n.done
	unix.Close(n.wake)
	return unix.Close(n.epfd)
}
