package main

import (
	"os"

	"github.com/matchmeta/matchmeta/web"
)

// localUser names the user this process runs as, for the provenance of
// what it imports itself.
func localUser() string { return web.UserName(os.Getuid()) }
