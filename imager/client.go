package imager

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ebs"
)

// Config says how to reach the EBS direct APIs. Every field is optional.
type Config struct {
	// Region, Profile: as --region and --profile; empty means the SDK's
	// usual sources (AWS_REGION, AWS_PROFILE, the shared config files).
	Region  string
	Profile string
	// Endpoint overrides the EBS endpoint (VPC or FIPS endpoints, a local
	// emulator). AWS_ENDPOINT_URL_EBS works too, through the SDK.
	Endpoint string
	// Credentials, when set, replaces the SDK's credential chain.
	Credentials aws.CredentialsProvider `json:"-"`
	// Timeout bounds every single request, headers and body (default 60 s).
	Timeout time.Duration
	// Conns sizes the connection pool (default 64).
	Conns int
	// NoInstanceMetadata skips the instance-metadata credentials and
	// region (as AWS_EC2_METADATA_DISABLED=true does): a daemon checking
	// its status sends nothing off the machine unless told to.
	NoInstanceMetadata bool
	// DetectTimeout bounds credential detection (default 1.5 s), so an
	// unreachable instance-metadata endpoint never hangs a lab machine.
	DetectTimeout time.Duration
}

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return 60 * time.Second
}

func (c Config) load(ctx context.Context) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	if c.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(c.Profile))
	}
	if c.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(c.Credentials))
	}
	if c.NoInstanceMetadata {
		opts = append(opts, config.WithEC2IMDSClientEnableState(imds.ClientDisabled))
	}
	conns := c.Conns
	if conns <= 0 {
		conns = 64
	}
	// The SDK's buildable client (it keeps AWS_CA_BUNDLE working) with a
	// pool as large as the workers, dial and header deadlines. The per-request deadline (headers and body) is a context
	// set by the caller, so a stalled body cannot hang a worker either.
	hc := awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) {
		d.Timeout = 10 * time.Second
		d.KeepAlive = 30 * time.Second
	}).WithTransportOptions(func(tr *http.Transport) {
		tr.TLSHandshakeTimeout = 10 * time.Second
		tr.ResponseHeaderTimeout = c.timeout()
		tr.MaxIdleConns = conns * 2
		tr.MaxIdleConnsPerHost = conns * 2
		tr.IdleConnTimeout = 90 * time.Second
		tr.DisableCompression = true
	})
	opts = append(opts, config.WithHTTPClient(hc),
		// One attempt per SDK call: the imager retries itself (it must
		// anyway, for checksum and length failures found after the SDK
		// returns), with backoff and jitter, counting every retry. The
		// client-side retry budget, which fails requests under
		// concurrency, is lifted.
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 1
				o.RateLimiter = ratelimit.None
			})
		}))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("imager: aws config: %w", err)
	}
	return cfg, nil
}

// NewClient returns an EBS direct API client for c.
func NewClient(ctx context.Context, c Config) (*ebs.Client, aws.Config, error) {
	cfg, err := c.load(ctx)
	if err != nil {
		return nil, aws.Config{}, err
	}
	if cfg.Region == "" {
		return nil, aws.Config{}, errors.New("imager: no AWS region: pass --region or set AWS_REGION")
	}
	client := ebs.NewFromConfig(cfg, func(o *ebs.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	return client, cfg, nil
}

// Status says whether imaging is possible on this machine and with what.
type Status struct {
	Available bool   `json:"available"`
	Profile   string `json:"profile,omitempty"`
	Region    string `json:"region,omitempty"`
	// Source names where the credentials came from ("environment",
	// "shared config", "instance role", or the SDK's provider name).
	Source  string `json:"source,omitempty"`
	Account string `json:"account,omitempty"`
	// Reason says why imaging is not available.
	Reason string `json:"reason,omitempty"`
}

// String is the one-line form the page, the API and the CLI show.
func (s Status) String() string {
	if !s.Available {
		return "imaging: no AWS credentials"
	}
	region := s.Region
	if region == "" {
		region = "not set"
	}
	return fmt.Sprintf("imaging: available (profile %s, region %s)", s.Profile, region)
}

// Detect looks for AWS credentials the way the SDK would use them: the
// environment, the shared config and credentials files with the profile,
// then instance metadata, all within DetectTimeout so an air-gapped
// machine with no metadata endpoint gets its answer in under two seconds.
// AWS_EC2_METADATA_DISABLED=true skips instance metadata (the SDK honours
// it). It never fails: a missing credential is a Status, not an error.
func Detect(ctx context.Context, c Config) Status {
	d := c.DetectTimeout
	if d <= 0 {
		d = 1500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	profile := c.Profile
	if profile == "" {
		profile = os.Getenv("AWS_PROFILE")
	}
	if profile == "" {
		profile = "default"
	}
	st := Status{Profile: profile}
	cfg, err := c.load(ctx)
	if err != nil {
		st.Reason = err.Error()
		return st
	}
	st.Region = cfg.Region
	if cfg.Credentials == nil {
		st.Reason = "no credential provider"
		return st
	}
	creds, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			st.Reason = fmt.Sprintf("no credentials found within %s", d)
		} else {
			st.Reason = err.Error()
		}
		return st
	}
	if !creds.HasKeys() {
		st.Reason = "credentials without keys"
		return st
	}
	st.Available = true
	st.Account = creds.AccountID
	switch src := creds.Source; {
	case src == "EnvConfigCredentials":
		st.Source = "environment"
	case strings.HasPrefix(src, "SharedConfigCredentials"):
		st.Source = "shared config"
	case src == "EC2RoleProvider":
		st.Source = "instance role"
	default:
		st.Source = src
	}
	return st
}
