package image

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// User is a resolved container user.
type User struct {
	UID, GID uint32
	// AdditionalGIDs are the groups /etc/group lists the user in.
	AdditionalGIDs []uint32
}

// ResolveUser turns an image's or pod's user ("", "name", "uid",
// "name:group", "uid:gid", …) into numeric ids by reading /etc/passwd and
// /etc/group inside rootfs (a mounted snapshot). Files are opened with
// RESOLVE_IN_ROOT, so symlinks in the image cannot point the lookup at the
// host's files. "" is root. A numeric uid absent from /etc/passwd is
// allowed (gid 0 unless given); an unknown name is an error.
func ResolveUser(rootfs, spec string) (User, error) {
	var u User
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	passwd, err := readRootFile(rootfs, "/etc/passwd")
	if err != nil {
		return u, err
	}
	groups, err := readRootFile(rootfs, "/etc/group")
	if err != nil {
		return u, err
	}
	name := ""
	switch {
	case userPart == "":
		name = "root"
	default:
		if n, err := strconv.ParseUint(userPart, 10, 32); err == nil {
			u.UID = uint32(n)
			for _, f := range colonRecords(passwd, 7) {
				if f[2] == userPart {
					name = f[0]
					if g, err := strconv.ParseUint(f[3], 10, 32); err == nil {
						u.GID = uint32(g)
					}
					break
				}
			}
		} else {
			found := false
			for _, f := range colonRecords(passwd, 7) {
				if f[0] == userPart {
					uid, err1 := strconv.ParseUint(f[2], 10, 32)
					gid, err2 := strconv.ParseUint(f[3], 10, 32)
					if err1 != nil || err2 != nil {
						return u, fmt.Errorf("user %q has a malformed /etc/passwd entry", userPart)
					}
					u.UID, u.GID, name, found = uint32(uid), uint32(gid), f[0], true
					break
				}
			}
			if !found && userPart == "root" {
				name, found = "root", true // uid 0 needs no entry
			}
			if !found {
				return u, fmt.Errorf("user %q not found in the image's /etc/passwd", userPart)
			}
		}
	}
	if hasGroup {
		if g, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.GID = uint32(g)
		} else {
			found := false
			for _, f := range colonRecords(groups, 4) {
				if f[0] == groupPart {
					g, err := strconv.ParseUint(f[2], 10, 32)
					if err != nil {
						return u, fmt.Errorf("group %q has a malformed /etc/group entry", groupPart)
					}
					u.GID, found = uint32(g), true
					break
				}
			}
			if !found {
				return u, fmt.Errorf("group %q not found in the image's /etc/group", groupPart)
			}
		}
	}
	if name != "" {
		for _, f := range colonRecords(groups, 4) {
			for _, m := range strings.Split(f[3], ",") {
				if m == name {
					if g, err := strconv.ParseUint(f[2], 10, 32); err == nil && uint32(g) != u.GID {
						u.AdditionalGIDs = append(u.AdditionalGIDs, uint32(g))
					}
				}
			}
		}
	}
	return u, nil
}

// readRootFile reads p inside root without leaving it; a missing file is
// empty.
func readRootFile(root, p string) ([]byte, error) {
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening rootfs: %w", err)
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, p, &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s in the image: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s in the image is not a regular file", p)
	}
	return io.ReadAll(io.LimitReader(f, 4<<20))
}

// colonRecords splits /etc/passwd-style content into records of n fields,
// skipping comments and malformed lines.
func colonRecords(b []byte, n int) [][]string {
	var out [][]string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) == n {
			out = append(out, f)
		}
	}
	return out
}
