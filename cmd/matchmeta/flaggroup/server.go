package flaggroup

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	"github.com/matchmeta/matchmeta/web"
)

// Server is --server, a remote appliance to ask instead of the local
// database, and the flags of its client, which only go with it.
type Server struct {
	cfg web.ClientConfig
	env string
	fs  *pflag.FlagSet
}

// serverFlags are the client's flags, each meaningless without --server.
var serverFlags = []string{"api-key", "concurrency", "batch", "timeout", "retries"}

// AddServer registers them; env is $MATCHMETA_API_KEY, the key when
// --api-key is not given.
func AddServer(fs *pflag.FlagSet, env string) *Server {
	s := &Server{env: env, fs: fs}
	c := &s.cfg
	fs.StringVar(&c.Server, "server", "", "look up on a remote appliance (http://HOST:8080) instead of the local database")
	fs.StringVar(&c.APIKey, "api-key", "", "with --server: API key, sent in the x-api-key header (env MATCHMETA_API_KEY)")
	fs.IntVar(&c.Concurrency, "concurrency", 4, "with --server: requests in flight")
	fs.IntVar(&c.Batch, "batch", 10000, "with --server: values per request")
	fs.DurationVar(&c.Timeout, "timeout", 60*time.Second, "with --server: time limit of one request")
	fs.IntVar(&c.Retries, "retries", 4, "with --server: further attempts after a network error, 5xx or 429")
	return s
}

// Config checks the flags and is the client's configuration: one with
// no Server when --server is not given.
func (s *Server) Config() (web.ClientConfig, error) {
	c := s.cfg
	if c.Server == "" {
		for _, f := range serverFlags {
			if s.fs.Changed(f) {
				return c, fmt.Errorf("--%s needs --server", f)
			}
		}
		return c, nil
	}
	switch {
	case s.fs.Changed("db"):
		return c, fmt.Errorf("give --db or --server, not both")
	case c.Concurrency < 1 || c.Concurrency > 256:
		return c, fmt.Errorf("--concurrency must be from 1 to 256, got %d", c.Concurrency)
	case c.Batch < 1 || c.Batch > 1_000_000:
		return c, fmt.Errorf("--batch must be from 1 to 1000000, got %d", c.Batch)
	case c.Timeout <= 0:
		return c, fmt.Errorf("--timeout must be positive, got %v", c.Timeout)
	case c.Retries < 0 || c.Retries > 100:
		return c, fmt.Errorf("--retries must be from 0 to 100, got %d", c.Retries)
	}
	if c.APIKey == "" {
		c.APIKey = s.env
	}
	if c.Retries == 0 {
		c.Retries = -1 // the client's "none"
	}
	return c, nil
}
