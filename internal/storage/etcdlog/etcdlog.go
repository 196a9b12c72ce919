// Package etcdlog routes the zap logs of etcd (its embedded server and its
// client) into a *slog.Logger, quieter than etcd chose: etcd logs a great
// deal at Info and Warn that only matters when debugging (and "errors" such
// as listeners closing at shutdown), so its Info and Warn become our Debug
// and its Error our Info. Only internal/storage, its sub-packages and the
// server wiring import it.
package etcdlog

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a zap logger whose entries go to l.
func New(l *slog.Logger) *zap.Logger {
	return zap.New(&core{l: l.With("component", "etcd")})
}

// core is a zapcore.Core writing to slog.
type core struct {
	l      *slog.Logger
	fields []zapcore.Field
}

var _ zapcore.Core = (*core)(nil)

func level(l zapcore.Level) slog.Level {
	switch {
	case l >= zapcore.DPanicLevel:
		return slog.LevelError
	case l >= zapcore.ErrorLevel:
		return slog.LevelInfo
	default:
		return slog.LevelDebug
	}
}

// Enabled implements zapcore.LevelEnabler.Enabled.
func (c *core) Enabled(l zapcore.Level) bool {
	return c.l.Enabled(context.Background(), level(l))
}

// With implements zapcore.Core.With.
func (c *core) With(fields []zapcore.Field) zapcore.Core {
	return &core{l: c.l, fields: append(append([]zapcore.Field(nil), c.fields...), fields...)}
}

// Check implements zapcore.Core.Check.
func (c *core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write implements zapcore.Core.Write.
func (c *core) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields)+1)
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	c.l.LogAttrs(context.Background(), level(e.Level), e.Message, attrs...)
	return nil
}

// Sync implements zapcore.Core.Sync.
func (c *core) Sync() error { return nil }
