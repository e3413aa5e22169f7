//go:build !linux

package clog

import (
	"errors"
	"os"
)

var errNoFallocate = errors.New("fallocate not supported")

func fallocate(*os.File, int64) error { return errNoFallocate }

// fdatasync falls back to fsync (os.File.Sync; F_FULLFSYNC on darwin).
func fdatasync(f *os.File) error { return f.Sync() }
