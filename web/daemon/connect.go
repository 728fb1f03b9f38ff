package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/web"
	"github.com/matchmeta/matchmeta/web/remote"
	"github.com/matchmeta/matchmeta/web/service"
)

// ConnectConfig says how a command needs the database DB.
type ConnectConfig struct {
	DB string
	// Sockets are where a daemon may listen, in order (default
	// web.ClientSocketPaths of DB).
	Sockets  []string
	ReadOnly bool
	// MustExist, when set, refuses to create a missing database file,
	// with this as the reason ("no database to back up").
	MustExist string
	// Optional: without a daemon and a database file, Connect returns a
	// nil service (and no error).
	Optional bool
	// Logger gets the local service's lines; Notify what is done on the
	// caller's behalf (the admin socket refused, a file is sent).
	Logger *slog.Logger
	Notify func(msg string)
	// Stdin is the file "-" of an import; ForceUpload sends every input
	// to a daemon even when it could read the file in place (tests).
	Stdin       io.Reader
	StdinSize   int64
	ForceUpload bool
	Version     string
}

// Connect is the service for the database: the running daemon's (a
// web/remote client over its admin socket) when one serves it, since it
// holds the bbolt file; else a local service over the file. A command then
// calls the same methods either way. release frees it.
func Connect(ctx context.Context, cfg ConnectConfig) (svc service.Service, release func(), err error) {
	if c, _ := Dial(ctx, cfg); c != nil {
		return c, c.Close, nil
	}
	path := cfg.DB
	fi, err := os.Stat(path)
	switch {
	case err != nil && cfg.Optional:
		return nil, func() {}, nil
	case err != nil && cfg.MustExist != "":
		return nil, nil, fmt.Errorf("%s: %w", cfg.MustExist, err)
	case err == nil && cfg.MustExist != "" && !fi.Mode().IsRegular():
		return nil, nil, fmt.Errorf("%s is not a database file", path)
	}
	st, err := db.Open(ctx, path, db.Options{Logger: cfg.Logger, ReadOnly: cfg.ReadOnly})
	if err != nil {
		return nil, nil, err
	}
	l, err := service.NewLocal(service.Config{Store: st, Logger: cfg.Logger, Version: cfg.Version, Stdin: cfg.Stdin, StdinSize: cfg.StdinSize})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return l, func() {
		l.Close(context.Background())
		st.Close()
	}, nil
}

// ConnectLookups is the bulk lookup of a command: a remote appliance's
// (a web.Client of server.Server) when server names one, else Connect's
// service for cfg. release frees it.
func ConnectLookups(ctx context.Context, cfg ConnectConfig, server web.ClientConfig) (l service.Streamer, release func(), err error) {
	if server.Server == "" {
		return Connect(ctx, cfg)
	}
	c, err := web.NewClient(server)
	if err != nil {
		return nil, nil, err
	}
	return c, c.Close, nil
}

// ConnectImages is the imaging service of a command: the daemon's when
// one serves cfg.DB (the job then runs there, with the daemon's
// credentials, and shows on its status page; sock names its socket), else
// Connect's local service when the operation needs the database (needDB),
// else a job runner of its own, since imaging needs no database. release
// frees it.
func ConnectImages(ctx context.Context, cfg ConnectConfig, needDB bool) (svc service.Images, sock string, release func(), err error) {
	if cfg.DB != "" {
		if d, sock := Dial(ctx, cfg); d != nil {
			return d, sock, d.Close, nil
		}
	}
	if needDB {
		svc, release, err := Connect(ctx, cfg)
		return svc, "", release, err
	}
	jobs := service.NewRunner(service.RunnerConfig{Logger: cfg.Logger})
	return service.NewImaging(service.ImagingConfig{Logger: cfg.Logger, InstanceMetadata: true}, jobs), "", func() { jobs.Stop(context.Background()) }, nil
}

// Dial is the client of the daemon serving the database and the socket
// it answers on, or nil when none does.
func Dial(ctx context.Context, cfg ConnectConfig) (*remote.Client, string) {
	abs, err := filepath.Abs(cfg.DB)
	if err != nil {
		return nil, ""
	}
	notify := cfg.Notify
	if notify == nil {
		notify = func(string) {}
	}
	socks := cfg.Sockets
	if len(socks) == 0 {
		socks = web.ClientSocketPaths(abs)
	}
	for _, sock := range socks {
		c, err := remote.Dial(ctx, remote.Config{Socket: sock, DB: abs, Stdin: cfg.Stdin, ForceUpload: cfg.ForceUpload, Notify: notify})
		switch {
		case err == nil:
			return c, sock
		case errors.Is(err, os.ErrPermission):
			notify(fmt.Sprintf("admin socket %s: permission denied (are you in group matchmeta?); opening the database directly", sock))
		}
	}
	return nil, ""
}
