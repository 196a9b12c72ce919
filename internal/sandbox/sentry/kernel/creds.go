package kernel

import (
	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/vfs"
)

// Capabilities used by the kernel.
const (
	capChown       = 0
	capDacOverride = 1
	capFowner      = 3
	capKill        = 5
	capSetgid      = 6
	capSetuid      = 7
	capSysChroot   = 18
	capSysAdmin    = 21
	capSysResource = 24
	// allCaps holds every capability up to CAP_LAST_CAP (40).
	allCaps = 1<<41 - 1
)

// Credentials are a task's identity. They are immutable: changes make a
// new value (With*).
type Credentials struct {
	RealUID, EffectiveUID, SavedUID, FSUID uint32
	RealGID, EffectiveGID, SavedGID, FSGID uint32
	Groups                                 []uint32
	Effective, Permitted, Inheritable      uint64
	Bounding                               uint64
	KeepCaps                               bool

	vfsCreds *vfs.Credentials
}

// NewCredentials returns the credentials of uid/gid: full capabilities
// for root (inside the sandbox), none otherwise.
func NewCredentials(uid, gid uint32, groups []uint32) *Credentials {
	c := &Credentials{
		RealUID: uid, EffectiveUID: uid, SavedUID: uid, FSUID: uid,
		RealGID: gid, EffectiveGID: gid, SavedGID: gid, FSGID: gid,
		Groups:   append([]uint32(nil), groups...),
		Bounding: allCaps,
	}
	if uid == 0 {
		c.Effective, c.Permitted = allCaps, allCaps
	}
	return c.finish()
}

func (c *Credentials) finish() *Credentials {
	c.vfsCreds = &vfs.Credentials{UID: c.FSUID, GID: c.FSGID, Groups: c.Groups, Caps: c.Effective}
	if c.FSUID != 0 {
		// File-system capabilities drop with a non-root fsuid.
		c.vfsCreds.Caps &^= 1<<capChown | 1<<capDacOverride | 1<<2 | 1<<capFowner | 1<<4 | 1<<9 | 1<<27
	}
	return c
}

// VFS returns the credentials file operations use.
func (c *Credentials) VFS() *vfs.Credentials { return c.vfsCreds }

// HasCap reports whether capability cap is effective.
func (c *Credentials) HasCap(cap int) bool { return c.Effective&(1<<uint(cap)) != 0 }

func (c *Credentials) clone() *Credentials {
	n := *c
	n.Groups = append([]uint32(nil), c.Groups...)
	return &n
}

// fixCapsAfterUIDChange applies Linux's rules when UIDs change: losing
// root drops capabilities, gaining effective root restores them.
func fixCapsAfterUIDChange(old, n *Credentials) {
	if (old.RealUID == 0 || old.EffectiveUID == 0 || old.SavedUID == 0) &&
		n.RealUID != 0 && n.EffectiveUID != 0 && n.SavedUID != 0 && !n.KeepCaps {
		n.Permitted, n.Effective = 0, 0
	}
	if old.EffectiveUID == 0 && n.EffectiveUID != 0 {
		n.Effective = 0
	}
	if old.EffectiveUID != 0 && n.EffectiveUID == 0 {
		n.Effective = n.Permitted
	}
}

// SetUID implements setuid(2).
func (c *Credentials) SetUID(uid uint32) (*Credentials, error) {
	n := c.clone()
	if c.HasCap(capSetuid) {
		n.RealUID, n.EffectiveUID, n.SavedUID = uid, uid, uid
	} else if uid == c.RealUID || uid == c.SavedUID {
		n.EffectiveUID = uid
	} else {
		return nil, abi.EPERM
	}
	n.FSUID = n.EffectiveUID
	fixCapsAfterUIDChange(c, n)
	return n.finish(), nil
}

// SetResUID implements setresuid(2); -1 (as ^0) leaves an ID alone.
func (c *Credentials) SetResUID(r, e, s uint32) (*Credentials, error) {
	allowed := func(id uint32) bool {
		return id == ^uint32(0) || c.HasCap(capSetuid) || id == c.RealUID || id == c.EffectiveUID || id == c.SavedUID
	}
	if !allowed(r) || !allowed(e) || !allowed(s) {
		return nil, abi.EPERM
	}
	n := c.clone()
	if r != ^uint32(0) {
		n.RealUID = r
	}
	if e != ^uint32(0) {
		n.EffectiveUID = e
	}
	if s != ^uint32(0) {
		n.SavedUID = s
	}
	n.FSUID = n.EffectiveUID
	fixCapsAfterUIDChange(c, n)
	return n.finish(), nil
}

// SetReUID implements setreuid(2).
func (c *Credentials) SetReUID(r, e uint32) (*Credentials, error) {
	s := ^uint32(0)
	if r != ^uint32(0) || (e != ^uint32(0) && e != c.RealUID) {
		if e != ^uint32(0) {
			s = e
		} else {
			s = c.EffectiveUID
		}
	}
	return c.SetResUID(r, e, s)
}

// SetGID implements setgid(2).
func (c *Credentials) SetGID(gid uint32) (*Credentials, error) {
	n := c.clone()
	if c.HasCap(capSetgid) {
		n.RealGID, n.EffectiveGID, n.SavedGID = gid, gid, gid
	} else if gid == c.RealGID || gid == c.SavedGID {
		n.EffectiveGID = gid
	} else {
		return nil, abi.EPERM
	}
	n.FSGID = n.EffectiveGID
	return n.finish(), nil
}

// SetResGID implements setresgid(2).
func (c *Credentials) SetResGID(r, e, s uint32) (*Credentials, error) {
	allowed := func(id uint32) bool {
		return id == ^uint32(0) || c.HasCap(capSetgid) || id == c.RealGID || id == c.EffectiveGID || id == c.SavedGID
	}
	if !allowed(r) || !allowed(e) || !allowed(s) {
		return nil, abi.EPERM
	}
	n := c.clone()
	if r != ^uint32(0) {
		n.RealGID = r
	}
	if e != ^uint32(0) {
		n.EffectiveGID = e
	}
	if s != ^uint32(0) {
		n.SavedGID = s
	}
	n.FSGID = n.EffectiveGID
	return n.finish(), nil
}

// SetReGID implements setregid(2).
func (c *Credentials) SetReGID(r, e uint32) (*Credentials, error) {
	s := ^uint32(0)
	if r != ^uint32(0) || (e != ^uint32(0) && e != c.RealGID) {
		if e != ^uint32(0) {
			s = e
		} else {
			s = c.EffectiveGID
		}
	}
	return c.SetResGID(r, e, s)
}

// SetFSUID implements setfsuid(2): it returns the new credentials (the
// same if not allowed) and the old fsuid.
func (c *Credentials) SetFSUID(uid uint32) (*Credentials, uint32) {
	old := c.FSUID
	if uid == ^uint32(0) || !(c.HasCap(capSetuid) || uid == c.RealUID || uid == c.EffectiveUID || uid == c.SavedUID || uid == c.FSUID) {
		return c, old
	}
	n := c.clone()
	n.FSUID = uid
	return n.finish(), old
}

// SetFSGID implements setfsgid(2).
func (c *Credentials) SetFSGID(gid uint32) (*Credentials, uint32) {
	old := c.FSGID
	if gid == ^uint32(0) || !(c.HasCap(capSetgid) || gid == c.RealGID || gid == c.EffectiveGID || gid == c.SavedGID || gid == c.FSGID) {
		return c, old
	}
	n := c.clone()
	n.FSGID = gid
	return n.finish(), old
}

// SetGroups implements setgroups(2).
func (c *Credentials) SetGroups(groups []uint32) (*Credentials, error) {
	if !c.HasCap(capSetgid) {
		return nil, abi.EPERM
	}
	n := c.clone()
	n.Groups = append([]uint32(nil), groups...)
	return n.finish(), nil
}

// SetCaps implements capset(2) for the caller.
func (c *Credentials) SetCaps(eff, perm, inh uint64) (*Credentials, error) {
	if perm&^c.Permitted != 0 || eff&^perm != 0 || inh&^(c.Inheritable|c.Permitted) != 0 {
		return nil, abi.EPERM
	}
	n := c.clone()
	n.Effective, n.Permitted, n.Inheritable = eff, perm, inh
	return n.finish(), nil
}
