package image

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// GCPolicy sets when image garbage collection runs and where it stops,
// in percent of the image file system's capacity (the kubelet's
// imageGCHighThresholdPercent / imageGCLowThresholdPercent, 85 and 80).
type GCPolicy struct {
	HighPercent, LowPercent int
}

// GCResult says what a GC pass did.
type GCResult struct {
	// Removed are the IDs of removed images, least recently used first.
	Removed []string
	// UsedBefore and UsedAfter are the file system's used bytes.
	UsedBefore, UsedAfter uint64
}

func statfsUsage(p string) (uint64, uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", p, err)
	}
	total := st.Blocks * uint64(st.Bsize)
	return total - st.Bavail*uint64(st.Bsize), total, nil
}

// GC removes least-recently-used images that no snapshot uses while disk
// usage is above the high threshold, until it is below the low one (or no
// candidate is left).
func (s *Store) GC(p GCPolicy) (GCResult, error) {
	var res GCResult
	if p.LowPercent > p.HighPercent || p.HighPercent <= 0 || p.HighPercent > 100 {
		return res, fmt.Errorf("image gc: invalid thresholds high=%d low=%d", p.HighPercent, p.LowPercent)
	}
	used, total, err := s.diskUsage(s.cfg.Root)
	if err != nil {
		return res, err
	}
	res.UsedBefore, res.UsedAfter = used, used
	if total == 0 || used*100 < uint64(p.HighPercent)*total {
		return res, nil
	}
	unlock, err := s.lock(true)
	if err != nil {
		return res, err
	}
	defer unlock()
	inUse, err := s.snapshotImages()
	if err != nil {
		return res, err
	}
	var cands []*Image
	for _, im := range s.images {
		if !inUse[im.ID] {
			cands = append(cands, im)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return s.lastUsedLocked(cands[i]).Before(s.lastUsedLocked(cands[j])) })
	for _, im := range cands {
		if used*100 < uint64(p.LowPercent)*total {
			break
		}
		if err := s.removeLocked(im); err != nil {
			return res, err
		}
		res.Removed = append(res.Removed, im.ID)
		if used, _, err = s.diskUsage(s.cfg.Root); err != nil {
			return res, err
		}
		res.UsedAfter = used
	}
	s.log.Info("image gc", "removed", len(res.Removed), "usedBefore", res.UsedBefore, "usedAfter", res.UsedAfter)
	return res, nil
}
