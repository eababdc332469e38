package controllers_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/controllers"
	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
	"github.com/respa-exchange/respa-exchange-operator/internal/manager"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
)

// The suite runs one real kube-apiserver and etcd (envtest, binaries built by
// hack/build-tools.sh into bin/k8s) and one manager with a scripted Syncer.
var (
	k8s       client.Client
	restCfg   *rest.Config
	syncer    = &scriptedSyncer{results: map[string]scriptedResult{}, calls: map[string]int{}}
	suiteSkip string
	testEnv   *envtest.Environment

	// The mailboxes of the tests point at these simulators, so the mailbox controller's
	// endpoint checks are real calls over HTTP on loopback.
	exSim    *exchangesim.Server
	exURL    string
	respaSim *respasim.Server
	respaURL string
)

const (
	svcUser     = "svc-sync"
	svcPassword = "correct-horse-battery"
	respaToken  = "respa-staff-token-123"
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	root, _ := filepath.Abs("..")
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(root, "bin", "k8s")
	}
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		if os.Getenv("REQUIRE_ENVTEST") != "" {
			fmt.Fprintf(os.Stderr, "envtest binaries not found in %s (run `make tools`)\n", assets)
			return 1
		}
		suiteSkip = fmt.Sprintf("envtest binaries not found in %s: run `make tools` or `make test`", assets)
		return m.Run()
	}
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	env := testEnv
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start envtest: %v\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	restCfg = cfg

	if err := startSimulators(); err != nil {
		fmt.Fprintf(os.Stderr, "simulators: %v\n", err)
		return 1
	}
	defer exSim.Close()

	k8s, err = client.New(cfg, client.Options{Scheme: manager.Scheme})
	if err != nil {
		fmt.Fprintf(os.Stderr, "client: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgr, err := manager.New(ctx, cfg, manager.Options{
		MetricsAddr: "0",
		ProbeAddr:   "0",
		Concurrency: 2,
		Syncer:      syncer,
		Logger:      testLogger(),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "manager: %v\n", err)
		return 1
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	code := m.Run()
	cancel()
	<-done
	return code
}

func requireEnv(t *testing.T) {
	t.Helper()
	if suiteSkip != "" {
		t.Skip(suiteSkip)
	}
	_ = testr.New(t)
}

// newNamespace gives each test its own namespace, so tests do not see each other's objects.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	return ns.Name
}

// eventually polls check until it returns nil or the timeout passes, then fails with the last error.
func eventually(t *testing.T, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not reached within %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// scriptedSyncer answers passes with the result set for each resource and counts them.
type scriptedSyncer struct {
	mu      sync.Mutex
	results map[string]scriptedResult
	calls   map[string]int
	last    map[string]controllers.SyncRequest
}

type scriptedResult struct {
	res controllers.SyncResult
	err error
}

func (s *scriptedSyncer) Sync(_ context.Context, req controllers.SyncRequest) (controllers.SyncResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := req.Resource.Namespace + "/" + req.Resource.Name
	s.calls[key]++
	if s.last == nil {
		s.last = map[string]controllers.SyncRequest{}
	}
	s.last[key] = req
	r, ok := s.results[key]
	if !ok {
		return controllers.SyncResult{Counts: v1alpha1.SyncCounts{LinkedPairs: 1}}, nil
	}
	return r.res, r.err
}

func (s *scriptedSyncer) set(key string, r scriptedResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results[key] = r
}

func (s *scriptedSyncer) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[key]
}

func (s *scriptedSyncer) lastRequest(key string) (controllers.SyncRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.last[key]
	return r, ok
}

// testLogger discards the manager's logs unless TEST_LOG is set.
func testLogger() logr.Logger {
	if os.Getenv("TEST_LOG") == "" {
		return logr.Discard()
	}
	return funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{})
}

func startSimulators() error {
	exSim = exchangesim.New(exchangesim.Options{})
	base, err := exSim.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	exURL = strings.TrimSuffix(base, "/") + "/EWS/Exchange.asmx"
	if _, err := exSim.AddMailbox(svcUser+"@example.org", "Sync service"); err != nil {
		return err
	}
	if err := exSim.AddAccount(exchangesim.Account{User: svcUser, Password: svcPassword, Mailbox: svcUser + "@example.org"}); err != nil {
		return err
	}
	respaSim = respasim.New(respasim.Options{})
	respaSim.AddUser(respasim.User{Username: "operator", Staff: true})
	if err := respaSim.AddToken(respasim.Token{Kind: "Token", Key: respaToken, Username: "operator"}); err != nil {
		return err
	}
	respaURL = httptest.NewServer(respaSim).URL + "/v1/"
	return nil
}

// room creates a room mailbox in the Exchange simulator that the sync account may impersonate.
func room(t *testing.T, smtp string) {
	t.Helper()
	if _, err := exSim.AddMailbox(smtp, smtp); err != nil {
		t.Fatal(err)
	}
	if err := exSim.Grant("user:"+svcUser, smtp); err != nil {
		t.Fatal(err)
	}
}
