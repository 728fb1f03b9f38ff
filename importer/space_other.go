//go:build !linux

package importer

// freeSpace is unknown off Linux; the extraction then fails on write.
func freeSpace(dir string) (int64, bool) { return 0, false }
