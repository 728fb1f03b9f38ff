package main

import "path/filepath"

// absPaths makes inputs absolute, since a daemon opens them from its own
// working directory; "-" (stdin) stays.
func absPaths(files []string) ([]string, error) {
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f
		if f == "-" {
			continue
		}
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		out[i] = abs
	}
	return out, nil
}
