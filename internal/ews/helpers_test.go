package ews

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/respa-exchange/respa-exchange-operator/internal/testenv"
)

// sharedDir finds ../shared beside the module root (the directory holding
// go.mod), or skips the test when it is absent.
func sharedDir(t testing.TB, sub string) string {
	t.Helper()
	p := filepath.Join(testenv.SharedDir(t), sub)
	if _, err := os.Stat(p); err != nil {
		testenv.Skip(t, testenv.Shared, "%s is absent; skipping", p)
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
		URL:   url,
		Auth:  Basic{Username: "svc-respa", Password: "s3cret-Pa55word"},
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

// fakeEWS is an httptest EWS endpoint that answers each request with the
// next reply in line (the last one repeats) and records what it got.
type fakeEWS struct {
	t       testing.TB
	mu      sync.Mutex
	replies []reply
	got     []recorded
	srv     *httptest.Server
}

type reply struct {
	status  int
	body    []byte
	headers map[string]string
}

type recorded struct {
	header http.Header
	body   string
}

func newFakeEWS(t testing.TB, replies ...reply) *fakeEWS {
	f := &fakeEWS{t: t, replies: replies}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		n := len(f.got)
		f.got = append(f.got, recorded{header: r.Header.Clone(), body: string(body)})
		rp := f.replies[min(n, len(f.replies)-1)]
		f.mu.Unlock()
		for k, v := range rp.headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(rp.status)
		_, _ = w.Write(rp.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeEWS) requests() []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

func ok200(body []byte) reply { return reply{status: 200, body: body} }
