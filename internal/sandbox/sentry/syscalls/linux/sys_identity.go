package linux

import (
	"github.com/podvisor/podvisor/internal/sandbox/abi"
	"github.com/podvisor/podvisor/internal/sandbox/sentry/kernel"
)

func sysGetuid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return uint64(t.Credentials().RealUID), nil
}

func sysGeteuid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return uint64(t.Credentials().EffectiveUID), nil
}

func sysGetgid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return uint64(t.Credentials().RealGID), nil
}

func sysGetegid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	return uint64(t.Credentials().EffectiveGID), nil
}

func setCreds(t *kernel.Task, c *kernel.Credentials, err error) (uint64, error) {
	if err != nil {
		return 0, err
	}
	t.SetCredentials(c)
	return 0, nil
}

func sysSetuid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	c, err := t.Credentials().SetUID(uint32(a[0]))
	return setCreds(t, c, err)
}

func sysSetgid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	c, err := t.Credentials().SetGID(uint32(a[0]))
	return setCreds(t, c, err)
}

func sysSetreuid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	c, err := t.Credentials().SetReUID(uint32(a[0]), uint32(a[1]))
	return setCreds(t, c, err)
}

func sysSetregid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	c, err := t.Credentials().SetReGID(uint32(a[0]), uint32(a[1]))
	return setCreds(t, c, err)
}

func sysSetresuid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	c, err := t.Credentials().SetResUID(uint32(a[0]), uint32(a[1]), uint32(a[2]))
	return setCreds(t, c, err)
}

func sysSetresgid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	c, err := t.Credentials().SetResGID(uint32(a[0]), uint32(a[1]), uint32(a[2]))
	return setCreds(t, c, err)
}

func sysGetresuid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	c := t.Credentials()
	for i, v := range []uint32{c.RealUID, c.EffectiveUID, c.SavedUID} {
		if err := copyOut(t, a[i], &v); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

func sysGetresgid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	c := t.Credentials()
	for i, v := range []uint32{c.RealGID, c.EffectiveGID, c.SavedGID} {
		if err := copyOut(t, a[i], &v); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

func sysSetfsuid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	c, old := t.Credentials().SetFSUID(uint32(a[0]))
	t.SetCredentials(c)
	return uint64(old), nil
}

func sysSetfsgid(t *kernel.Task, a *[6]uint64) (uint64, error) {
	c, old := t.Credentials().SetFSGID(uint32(a[0]))
	t.SetCredentials(c)
	return uint64(old), nil
}

func sysGetgroups(t *kernel.Task, a *[6]uint64) (uint64, error) {
	size := int32(a[0])
	groups := t.Credentials().Groups
	if size < 0 {
		return 0, abi.EINVAL
	}
	if size == 0 {
		return uint64(len(groups)), nil
	}
	if int(size) < len(groups) {
		return 0, abi.EINVAL
	}
	if len(groups) > 0 {
		if err := copyOutBytes(t, a[1], abi.SliceAsBytes(groups)); err != nil {
			return 0, err
		}
	}
	return uint64(len(groups)), nil
}

func sysSetgroups(t *kernel.Task, a *[6]uint64) (uint64, error) {
	size := int32(a[0])
	if size < 0 || size > 65536 {
		return 0, abi.EINVAL
	}
	groups := make([]uint32, size)
	if size > 0 {
		if err := copyInBytes(t, a[1], abi.SliceAsBytes(groups)); err != nil {
			return 0, err
		}
	}
	c, err := t.Credentials().SetGroups(groups)
	return setCreds(t, c, err)
}

func sysCapget(t *kernel.Task, a *[6]uint64) (uint64, error) {
	var hdr abi.CapUserHeader
	if err := copyIn(t, a[0], &hdr); err != nil {
		return 0, err
	}
	words := 2
	switch hdr.Version {
	case abi.LINUX_CAPABILITY_VERSION_1:
		words = 1
	case abi.LINUX_CAPABILITY_VERSION_2, abi.LINUX_CAPABILITY_VERSION_3:
	default:
		hdr.Version = abi.LINUX_CAPABILITY_VERSION_3
		copyOut(t, a[0], &hdr)
		if a[1] == 0 {
			return 0, nil
		}
		return 0, abi.EINVAL
	}
	if hdr.PID < 0 {
		return 0, abi.EINVAL
	}
	c := t.Credentials()
	if hdr.PID != 0 && hdr.PID != t.ThreadID() {
		o := t.Kernel().TaskWithID(hdr.PID)
		if o == nil {
			return 0, abi.ESRCH
		}
		c = o.Credentials()
	}
	if a[1] == 0 {
		return 0, nil
	}
	data := make([]abi.CapUserData, words)
	for i := range data {
		data[i] = abi.CapUserData{
			Effective:   uint32(c.Effective >> (32 * i)),
			Permitted:   uint32(c.Permitted >> (32 * i)),
			Inheritable: uint32(c.Inheritable >> (32 * i)),
		}
	}
	return 0, copyOutBytes(t, a[1], abi.SliceAsBytes(data))
}

func sysCapset(t *kernel.Task, a *[6]uint64) (uint64, error) {
	var hdr abi.CapUserHeader
	if err := copyIn(t, a[0], &hdr); err != nil {
		return 0, err
	}
	words := 2
	switch hdr.Version {
	case abi.LINUX_CAPABILITY_VERSION_1:
		words = 1
	case abi.LINUX_CAPABILITY_VERSION_2, abi.LINUX_CAPABILITY_VERSION_3:
	default:
		return 0, abi.EINVAL
	}
	if hdr.PID != 0 && hdr.PID != t.ThreadID() {
		return 0, abi.EPERM
	}
	data := make([]abi.CapUserData, words)
	if err := copyInBytes(t, a[1], abi.SliceAsBytes(data)); err != nil {
		return 0, err
	}
	var eff, perm, inh uint64
	for i, d := range data {
		eff |= uint64(d.Effective) << (32 * i)
		perm |= uint64(d.Permitted) << (32 * i)
		inh |= uint64(d.Inheritable) << (32 * i)
	}
	c, err := t.Credentials().SetCaps(eff, perm, inh)
	return setCreds(t, c, err)
}
