package kernel

import (
	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Session is a set of process groups, possibly with a controlling
// terminal. Guarded by Kernel.mu.
type Session struct {
	k      *Kernel
	id     int32
	leader *ThreadGroup
	tty    *vfs.TTY
	fg     *ProcessGroup
	pgrps  map[*ProcessGroup]struct{}
}

// ProcessGroup is a set of processes for job control. Guarded by
// Kernel.mu.
type ProcessGroup struct {
	id      int32
	session *Session
	members map[*ThreadGroup]struct{}
}

// ID returns the process group ID.
func (pg *ProcessGroup) ID() int32 { return pg.id }

// newSessionLocked makes tg the leader of a new session and process group.
//
// Preconditions: k.mu is held; tg is in no group.
func (k *Kernel) newSessionLocked(tg *ThreadGroup) {
	s := &Session{k: k, id: tg.pid, leader: tg, pgrps: make(map[*ProcessGroup]struct{})}
	k.sessions[s.id] = s
	pg := &ProcessGroup{id: tg.pid, session: s, members: make(map[*ThreadGroup]struct{})}
	s.pgrps[pg] = struct{}{}
	k.pgrps[pg.id] = pg
	s.fg = pg
	k.joinPgrpLocked(tg, pg)
}

// joinPgrpLocked moves tg into pg.
func (k *Kernel) joinPgrpLocked(tg *ThreadGroup, pg *ProcessGroup) {
	if tg.pgrp == pg {
		return
	}
	if tg.pgrp != nil {
		k.leavePgrpLocked(tg)
	}
	tg.pgrp = pg
	pg.members[tg] = struct{}{}
}

// leavePgrpLocked removes tg from its group, freeing empty groups and
// sessions.
func (k *Kernel) leavePgrpLocked(tg *ThreadGroup) {
	pg := tg.pgrp
	tg.pgrp = nil
	delete(pg.members, tg)
	if len(pg.members) > 0 {
		return
	}
	delete(k.pgrps, pg.id)
	s := pg.session
	delete(s.pgrps, pg)
	if s.fg == pg {
		s.fg = nil
	}
	if len(s.pgrps) == 0 {
		delete(k.sessions, s.id)
		if s.tty != nil {
			delete(k.ttys, s.tty)
			s.tty.SetController(nil)
			s.tty = nil
		}
	}
}

// isOrphanedLocked reports whether no member has a parent in another group
// of the same session (POSIX orphaned process group): terminal stop signals
// are then discarded.
func (pg *ProcessGroup) isOrphanedLocked() bool {
	for tg := range pg.members {
		p := tg.parent
		if p != nil && p.pgrp != pg && p.pgrp != nil && p.pgrp.session == pg.session {
			return false
		}
	}
	return true
}

// SetSID implements setsid(2).
func (t *Task) SetSID() (int32, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	tg := t.tg
	if _, ok := k.pgrps[tg.pid]; ok {
		return 0, abi.EPERM
	}
	k.leavePgrpLocked(tg)
	k.newSessionLocked(tg)
	return tg.pid, nil
}

// SetPGID implements setpgid(2): pid 0 is the caller, pgid 0 is pid.
func (t *Task) SetPGID(pid, pgid int32) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if pgid < 0 {
		return abi.EINVAL
	}
	tg := t.tg
	target := tg
	if pid != 0 && pid != tg.pid {
		target = k.tgs[pid]
		if target == nil || target.parent != tg {
			return abi.ESRCH
		}
		if target.execed {
			return abi.EACCES
		}
		if target.pgrp.session != tg.pgrp.session {
			return abi.EPERM
		}
	}
	if pgid == 0 {
		pgid = target.pid
	}
	if target.pgrp.session.leader == target {
		return abi.EPERM
	}
	if target.pgrp.id == pgid {
		return nil
	}
	pg := k.pgrps[pgid]
	if pg == nil {
		if pgid != target.pid {
			return abi.EPERM
		}
		pg = &ProcessGroup{id: pgid, session: target.pgrp.session, members: make(map[*ThreadGroup]struct{})}
		pg.session.pgrps[pg] = struct{}{}
		k.pgrps[pgid] = pg
	} else if pg.session != target.pgrp.session {
		return abi.EPERM
	}
	k.joinPgrpLocked(target, pg)
	return nil
}

// GetPGID implements getpgid(2) (pid 0: the caller).
func (t *Task) GetPGID(pid int32) (int32, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	tg := t.tg
	if pid != 0 {
		tg = k.tgs[pid]
		if tg == nil || tg.pgrp == nil {
			return 0, abi.ESRCH
		}
	}
	return tg.pgrp.id, nil
}

// GetSID implements getsid(2) (pid 0: the caller).
func (t *Task) GetSID(pid int32) (int32, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	tg := t.tg
	if pid != 0 {
		tg = k.tgs[pid]
		if tg == nil || tg.pgrp == nil {
			return 0, abi.ESRCH
		}
	}
	return tg.pgrp.session.id, nil
}

// ProcessGroupMembers returns the live processes of process group pgid.
func (k *Kernel) ProcessGroupMembers(pgid int32) []*ThreadGroup {
	k.mu.Lock()
	defer k.mu.Unlock()
	pg := k.pgrps[pgid]
	if pg == nil {
		return nil
	}
	var out []*ThreadGroup
	for tg := range pg.members {
		if !tg.zombie {
			out = append(out, tg)
		}
	}
	sortTGs(out)
	return out
}

// sessionController implements vfs.TTYController for a session.
type sessionController struct{ s *Session }

// SignalForeground implements vfs.TTYController.SignalForeground.
func (c sessionController) SignalForeground(sig abi.Signal) {
	k := c.s.k
	k.mu.Lock()
	defer k.mu.Unlock()
	if c.s.fg == nil {
		return
	}
	info := abi.SigInfo{Signo: int32(sig), Code: abi.SI_KERNEL}
	for tg := range c.s.fg.members {
		k.sendLocked(nil, tg, &info, false)
	}
}

// ControllingTTY implements vfs.TaskTTY.ControllingTTY.
func (t *Task) ControllingTTY() *vfs.TTY {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	return t.tg.pgrp.session.tty
}

// LeadsSessionWithoutTTY reports whether t's process leads its session and
// the session has no controlling terminal: opening a terminal then makes
// it the controlling one (unless O_NOCTTY).
func (t *Task) LeadsSessionWithoutTTY() bool {
	t.k.mu.Lock()
	defer t.k.mu.Unlock()
	s := t.tg.pgrp.session
	return s.leader == t.tg && s.tty == nil
}

// SetControllingTTY implements vfs.TaskTTY.SetControllingTTY.
func (t *Task) SetControllingTTY(tty *vfs.TTY, steal bool) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	s := t.tg.pgrp.session
	if s.leader != t.tg {
		return abi.EPERM
	}
	if s.tty == tty {
		return nil
	}
	if s.tty != nil {
		return abi.EPERM
	}
	if other := k.ttys[tty]; other != nil {
		if !steal || !t.Credentials().HasCap(capSysAdmin) {
			return abi.EPERM
		}
		other.tty = nil
	}
	k.attachTTYLocked(s, tty)
	return nil
}

// attachTTYLocked makes tty s's controlling terminal.
func (k *Kernel) attachTTYLocked(s *Session, tty *vfs.TTY) {
	s.tty = tty
	k.ttys[tty] = s
	s.fg = s.leader.pgrp
	tty.SetController(sessionController{s})
}

// ReleaseControllingTTY implements vfs.TaskTTY.ReleaseControllingTTY.
func (t *Task) ReleaseControllingTTY(tty *vfs.TTY) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	s := t.tg.pgrp.session
	if s.tty != tty {
		return abi.ENOTTY
	}
	delete(k.ttys, tty)
	s.tty = nil
	tty.SetController(nil)
	return nil
}

// ForegroundProcessGroup implements vfs.TaskTTY.ForegroundProcessGroup.
func (t *Task) ForegroundProcessGroup(tty *vfs.TTY) (int32, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	s := t.tg.pgrp.session
	if s.tty != tty {
		return 0, abi.ENOTTY
	}
	if s.fg == nil {
		// No foreground group: Linux reports a PID that is no group.
		return 0x7fffffff, nil
	}
	return s.fg.id, nil
}

// SetForegroundProcessGroup implements vfs.TaskTTY.SetForegroundProcessGroup.
func (t *Task) SetForegroundProcessGroup(tty *vfs.TTY, pgid int32) error {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	s := t.tg.pgrp.session
	if s.tty != tty {
		return abi.ENOTTY
	}
	if pgid < 0 {
		return abi.EINVAL
	}
	pg := k.pgrps[pgid]
	if pg == nil || pg.session != s {
		return abi.EPERM
	}
	s.fg = pg
	return nil
}

// SessionID implements vfs.TaskTTY.SessionID.
func (t *Task) SessionID(tty *vfs.TTY) (int32, error) {
	k := t.k
	k.mu.Lock()
	defer k.mu.Unlock()
	s := t.tg.pgrp.session
	if s.tty != tty {
		return 0, abi.ENOTTY
	}
	return s.id, nil
}
