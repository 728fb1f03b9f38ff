package web

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/imager/ebsemu"
	"github.com/matchmeta/matchmeta/web/service"
)

// TestImagingOnStatusAndInfo: GET /api/v1/info and the status page say
// whether imaging is possible, and the page lists a finished acquisition
// with its report.
func TestImagingOnStatusAndInfo(t *testing.T) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_EBS": "", "AWS_ENDPOINT_URL": "",
	} {
		t.Setenv(k, v)
	}
	st := fixtureStore(t)
	vol := ebsemu.MemVolume("snap-0page", 1, map[int32][]byte{9: bytes.Repeat([]byte("p"), ebsemu.DefaultBlockSize)})
	emu := ebsemu.New(ebsemu.Options{}, vol)
	defer emu.Close()
	svc, err := service.NewLocal(service.Config{Store: st, Imaging: service.ImagingConfig{AWS: imager.Config{Region: "eu-north-1", Endpoint: emu.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	ts := startServer(t, st, func(c *Config) { c.Service = svc })

	r := get(t, ts.URL+"/api/v1/info")
	var info struct {
		Imaging       string        `json:"imaging"`
		ImagingStatus imager.Status `json:"imaging_status"`
	}
	if r.status != 200 || json.Unmarshal([]byte(r.body), &info) != nil || info.Imaging != "imaging: available (profile default, region eu-north-1)" || info.ImagingStatus.Source != "environment" {
		t.Fatalf("GET /api/v1/info: %d %s", r.status, r.body)
	}
	rep, err := svc.ImageAcquire(context.Background(), service.ImageAcquireRequest{Acquire: imager.AcquireOptions{Snapshot: vol.ID, Out: filepath.Join(dir, "acq")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	page := get(t, ts.URL+"/status")
	if page.status != 200 {
		t.Fatalf("GET /status: %d", page.status)
	}
	for _, want := range []string{`<dd id="imaging">imaging: available (profile default, region eu-north-1)</dd>`, `id="acquisitions"`, vol.ID, rep.Hashes.SHA256, "verified"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("status page lacks %q", want)
		}
	}
}
