package ews

import (
	"os"
	"path/filepath"
	"time"
	"testing"
)

// sharedDir finds ../shared beside the module root (the directory holding
// go.mod), or skips the test when it is absent.
func sharedDir(t testing.TB, sub string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test directory; cannot locate ../shared")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", sub)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("%s is absent (it sits beside the checkout in CI); skipping", p)
	}
	return p
}

// sample reads one file of ../shared/ews-samples.
func sample(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(sharedDir(t, "ews-samples"), name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// testClient builds a client against url with Basic auth and fast retries.
func testClient(t testing.TB, url string, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		URL:  url,
		Auth: Basic{Username: "svc-respa", Password: "s3cret-Pa55word"},
		Retry: RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 200 * time.Millisecond},
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
