package api_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dc2dc/dc2dc/handlers/control/api"
	"github.com/dc2dc/dc2dc/handlers/control/api/apitest"
)

// chromium finds a headless-capable Chromium, or skips the test saying how
// to install one.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on this machine (install it with `apt-get install -y chromium`): the status page is not rendered in a browser; its HTML is still tested by TestStatusPageContent")
	return ""
}

// runChromium runs Chromium headless with args and returns its stdout.
func runChromium(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--disable-extensions", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			t.Fatalf("chromium %v did not finish within 90 s; stderr:\n%s", args, stderr.String())
		}
		t.Skipf("chromium cannot run here (%v): the page is not rendered in a browser; stderr:\n%s", err, stderr.String())
	}
	return out
}

// TestStatusPageInChromium renders the status page of a master with a fake
// manager in headless Chromium, with the browser's only way to
// authenticate (?token=): the rendered DOM holds every shard row, and a
// screenshot is kept (under $DC2DC_RESULTS as status-page.png when set).
func TestStatusPageInChromium(t *testing.T) {
	bin := chromium(t)
	fake := apitest.NewSyncs(apitest.SampleStatus(time.Now()))
	m := apitest.NewMaster(t, api.Config{DC: "B", Syncs: fake, Auth: api.AuthConfig{Token: "tok"}}, true)
	url := m.URL + "/?token=tok"

	dom := string(runChromium(t, bin, "--dump-dom", url))
	for _, shard := range []string{"shop/1001/0", "shop/1001/1", "shop/1010/0", "shop/1010/1", "shop/1020/0"} {
		if !strings.Contains(dom, `data-shard="`+shard+`"`) {
			t.Errorf("the rendered page lacks the row of shard %s", shard)
		}
	}
	if !strings.Contains(dom, "violates the collection's schema") || !strings.Contains(dom, "sync a-to-b") {
		t.Errorf("the rendered page lacks the sync or the failed shard's error:\n%.2000s", dom)
	}

	shot := filepath.Join(t.TempDir(), "status-page.png")
	runChromium(t, bin, "--screenshot="+shot, "--window-size=1280,800", url)
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	if len(png) < 1000 || string(png[1:4]) != "PNG" {
		t.Fatalf("the screenshot is not a PNG (%d bytes)", len(png))
	}
	if dir := os.Getenv("DC2DC_RESULTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "status-page.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))

	// Without the token the browser gets the hint page, not the status.
	dom = string(runChromium(t, bin, "--dump-dom", m.URL+"/"))
	if !strings.Contains(dom, "credentials needed") || strings.Contains(dom, "data-shard") {
		t.Errorf("without a token:\n%.1000s", dom)
	}
}
