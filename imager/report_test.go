package imager

import (
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/matchmeta/matchmeta/imager/ebsemu"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, got []byte, path string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestReportGolden(t *testing.T) {
	vol := memVolume("snap-0a1b2c3d4e5f60718")
	srv := ebsemu.New(ebsemu.Options{}, vol)
	defer srv.Close()
	dir := t.TempDir()
	clock := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	o := fastOpts(vol.ID, dir)
	o.Now = func() time.Time { clock = clock.Add(90 * time.Second); return clock }
	o.MD5, o.SHA1 = true, true
	o.Endpoint, o.Account = "http://ebs-emulator.invalid", "123456789012"
	o.Case = Case{Examiner: "J. Doe", Case: "2026-0042", Evidence: "EV-7", Description: "web server root volume", Notes: "shared to the forensic account"}
	o.ToolVersion = "v1.2.3"
	o.CommandLine = []string{"matchmeta", "image", "acquire", "--snapshot", vol.ID, "--out", "case42", "--md5", "--sha1"}
	if _, err := Acquire(context.Background(), testClient(t, srv.URL), o); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{ReportJSON, ReportText} {
		got, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		golden(t, got, filepath.Join("testdata", "report", n+".golden"))
	}
	// The JSON is valid and the reader gets every block back.
	raw, _ := os.ReadFile(filepath.Join(dir, ReportJSON))
	if !json.Valid(raw) {
		t.Fatal("acquisition.json is not valid JSON")
	}
	var n int
	rep, err := ReadReport(filepath.Join(dir, ReportJSON), func(BlockSum) error { n++; return nil })
	if err != nil || n != 7 || rep.Examiner != "J. Doe" || rep.Hashes.MD5 == "" {
		t.Fatalf("read report: %d blocks, %+v, %v", n, rep, err)
	}
}

func TestReadReportRejectsDamage(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"not json", "hello", "not a JSON object"},
		{"bad block hash", `{"snapshot":"s","block_size":524288,"volume_size_gib":1,"blocks":[{"index":0,"sha256":"zz"}]}`, "blocks[0]: sha256"},
		{"missing fields", `{"snapshot":"s","blocks":[]}`, "missing"},
		{"truncated", `{"snapshot":"s","block_size":524288,"volume_size_gib":1,"blocks":[{"index":0,`, "blocks[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "r.json")
			os.WriteFile(p, []byte(c.body), 0o644)
			_, err := ReadReport(p, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("got %v, want an error naming %s and %q", err, p, c.want)
			}
		})
	}
}

// credEnv points the SDK at files and endpoints inside the test.
func credEnv(t *testing.T) string {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "", "AWS_WEB_IDENTITY_TOKEN_FILE": "", "AWS_ROLE_ARN": "",
	} {
		t.Setenv(k, v)
	}
	return dir
}

func TestDetect(t *testing.T) {
	t.Run("environment", func(t *testing.T) {
		credEnv(t)
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
		t.Setenv("AWS_REGION", "eu-west-1")
		st := Detect(context.Background(), Config{})
		if !st.Available || st.Source != "environment" || st.String() != "imaging: available (profile default, region eu-west-1)" {
			t.Fatalf("got %+v %q", st, st.String())
		}
	})
	t.Run("profile", func(t *testing.T) {
		dir := credEnv(t)
		os.WriteFile(filepath.Join(dir, "config"), []byte("[profile lab]\nregion = us-east-2\n"), 0o600)
		os.WriteFile(filepath.Join(dir, "credentials"), []byte("[lab]\naws_access_key_id = AKIALAB\naws_secret_access_key = s\n"), 0o600)
		st := Detect(context.Background(), Config{Profile: "lab"})
		if !st.Available || st.Source != "shared config" || st.String() != "imaging: available (profile lab, region us-east-2)" {
			t.Fatalf("got %+v %q", st, st.String())
		}
		st = Detect(context.Background(), Config{Profile: "nosuch"})
		if st.Available || !strings.Contains(st.Reason, "nosuch") {
			t.Fatalf("missing profile: %+v", st)
		}
	})
	t.Run("none, metadata disabled", func(t *testing.T) {
		credEnv(t)
		start := time.Now()
		st := Detect(context.Background(), Config{})
		if st.Available || st.String() != "imaging: no AWS credentials" || st.Reason == "" {
			t.Fatalf("got %+v", st)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("refusal took %s", d)
		}
	})
	t.Run("none, metadata endpoint never answers", func(t *testing.T) {
		credEnv(t)
		stall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
		defer stall.Close()
		t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
		t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", stall.URL)
		start := time.Now()
		st := Detect(context.Background(), Config{})
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("refusal took %s, want under 2 s", d)
		}
		if st.Available {
			t.Fatalf("got %+v", st)
		}
	})
	t.Run("instance role", func(t *testing.T) {
		credEnv(t)
		imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
				w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
				w.Write([]byte("token"))
			case r.URL.Path == "/latest/meta-data/iam/security-credentials/":
				w.Write([]byte("forensics-role"))
			case r.URL.Path == "/latest/meta-data/iam/security-credentials/forensics-role":
				json.NewEncoder(w).Encode(map[string]string{"Code": "Success", "AccessKeyId": "ASIAROLE", "SecretAccessKey": "s",
					"Token": "t", "Expiration": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
			default:
				http.NotFound(w, r)
			}
		}))
		defer imds.Close()
		t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
		t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.URL)
		t.Setenv("AWS_REGION", "us-west-2")
		st := Detect(context.Background(), Config{})
		if !st.Available || st.Source != "instance role" || st.Region != "us-west-2" {
			t.Fatalf("got %+v", st)
		}
	})
}
