package service

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/matchmeta/matchmeta/db"
	"github.com/matchmeta/matchmeta/db/progress"
	"github.com/matchmeta/matchmeta/imager"
	"github.com/matchmeta/matchmeta/imager/ebsemu"
)

func imagingEnv(t *testing.T, keys bool) {
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "AWS_PROFILE": "",
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL_EBS": "",
		"AWS_ENDPOINT_URL": "", "AWS_CONTAINER_CREDENTIALS_FULL_URI": "", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "",
	} {
		t.Setenv(k, v)
	}
	if keys {
		t.Setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	}
}

// TestImageJobs runs an acquisition through Local: a job listed with its
// progress and the report as its result, and the imaging status in Info.
func TestImageJobs(t *testing.T) {
	imagingEnv(t, true)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := db.Open(ctx, filepath.Join(dir, "mm.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	vol := ebsemu.MemVolume("snap-service", 1, map[int32][]byte{3: bytes.Repeat([]byte("x"), ebsemu.DefaultBlockSize)})
	srv := ebsemu.New(ebsemu.Options{}, vol)
	defer srv.Close()
	l, err := NewLocal(Config{Store: st, Imaging: ImagingConfig{AWS: imager.Config{Region: "us-east-2", Endpoint: srv.URL}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	info, err := l.Info(ctx)
	if err != nil || info.Imaging != "imaging: available (profile default, region us-east-2)" || !info.ImagingStatus.Available {
		t.Fatalf("info %+v %v", info, err)
	}
	var events []progress.Event
	rep, err := l.ImageAcquire(ctx, ImageAcquireRequest{Acquire: imager.AcquireOptions{Snapshot: vol.ID, Out: filepath.Join(dir, "acq")}},
		func(ev progress.Event) { events = append(events, ev) })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Endpoint != srv.URL || rep.Region != "us-east-2" || rep.Verification.Result != "verified" {
		t.Fatalf("report %+v", rep)
	}
	if len(events) == 0 || events[len(events)-1].Phase != "verify" {
		t.Fatalf("events %+v", events)
	}
	jobs, _ := l.Jobs(ctx)
	if len(jobs) != 1 || jobs[0].Kind != "image-acquire" || jobs[0].State != JobDone || jobs[0].Result.(*imager.Report).Snapshot != vol.ID {
		t.Fatalf("jobs %+v", jobs)
	}
	if _, err := l.ImageTransform(ctx, "shred", dir, imager.TransformOptions{}, nil); db.KindOf(err) != db.ErrorInvalid {
		t.Fatalf("unknown op: %v", err)
	}
}

func TestImagingRefusesWithoutCredentials(t *testing.T) {
	imagingEnv(t, false)
	im := NewImaging(ImagingConfig{AWS: imager.Config{Region: "us-east-2"}}, NewRunner(RunnerConfig{}))
	if st := im.CachedStatus(context.Background()); st.String() != "imaging: no AWS credentials" {
		t.Fatalf("status %+v", st)
	}
	_, err := im.ImageAcquire(context.Background(), ImageAcquireRequest{Acquire: imager.AcquireOptions{Snapshot: "snap-1", Out: t.TempDir()}}, nil)
	if db.KindOf(err) != db.ErrorInvalid || !strings.Contains(err.Error(), "imaging: no AWS credentials") {
		t.Fatalf("acquire without credentials: %v", err)
	}
}
