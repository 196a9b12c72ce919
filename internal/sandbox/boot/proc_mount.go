package boot

import "context"

// mountProc mounts /proc; filled in once fsimpl/proc exists.
func (s *Sentry) mountProc(ctx context.Context) error { return nil }
