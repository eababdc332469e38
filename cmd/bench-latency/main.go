// Command bench-latency is the load harness for change latency: it starts a local
// kube-apiserver and etcd (envtest), the Exchange and Respa simulators with a per-request
// latency and N rooms, runs the manager as its own process against them, makes random edits on
// both sides at a steady rate, and prints the latency from a change to its appearance on the
// other side (p50/p95/p99 per direction), requests per side per minute, writes on rooms that had
// no change, and the manager's CPU time and peak RSS.
//
//	go run ./cmd/bench-latency -rooms 200 -latency 20ms -duration 2m -rate 2
//
// It sends traffic to loopback only and stops by itself after -duration.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	v1alpha1 "github.com/respa-exchange/respa-exchange-operator/api/v1alpha1"
	"github.com/respa-exchange/respa-exchange-operator/config"
	"github.com/respa-exchange/respa-exchange-operator/internal/exchangesim"
	"github.com/respa-exchange/respa-exchange-operator/internal/manager"
	"github.com/respa-exchange/respa-exchange-operator/internal/respasim"
)

type options struct {
	rooms        int
	latency      time.Duration
	duration     time.Duration
	rate         float64
	settle       time.Duration
	timeout      time.Duration
	assets       string
	managerBin   string
	workdir      string
	managerFlags string
}

func main() {
	var o options
	flag.IntVar(&o.rooms, "rooms", 200, "rooms (ExchangeResources)")
	flag.DurationVar(&o.latency, "latency", 20*time.Millisecond, "latency the simulators add to every request")
	flag.DurationVar(&o.duration, "duration", 2*time.Minute, "how long edits are made")
	flag.Float64Var(&o.rate, "rate", 2, "edits per second, half on each side")
	flag.DurationVar(&o.settle, "settle", 2*time.Minute, "longest wait for the first sync of every room")
	flag.DurationVar(&o.timeout, "timeout", 60*time.Second, "an edit not seen on the other side after this counts as lost")
	flag.StringVar(&o.assets, "assets", "bin/k8s", "folder with kube-apiserver and etcd")
	flag.StringVar(&o.managerBin, "manager", "bin/manager", "manager binary (make build)")
	flag.StringVar(&o.workdir, "workdir", ".bench-latency", "folder for the kubeconfig and the manager's log")
	flag.StringVar(&o.managerFlags, "manager-flags", "", "extra manager flags, space separated")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-latency:", err)
		os.Exit(1)
	}
}

type harness struct {
	o        options
	k8s      client.Client
	ex       *exchangesim.Server
	rs       *respasim.Server
	exURL    string
	respaURL string
	rooms    []string // room i: mailbox room-i@bench.example, Respa resource room-i
}

func roomMail(i int) string { return fmt.Sprintf("room-%d@bench.example", i) }
func roomID(i int) string   { return fmt.Sprintf("room-%d", i) }

func run(ctx context.Context, o options) error {
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }
	if err := os.MkdirAll(o.workdir, 0o700); err != nil {
		return err
	}
	crds, err := config.CustomResourceDefinitions()
	if err != nil {
		return err
	}
	env := &envtest.Environment{CRDs: crds, BinaryAssetsDirectory: abs(o.assets)}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("start kube-apiserver and etcd (run `make tools`): %w", err)
	}
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kc, err := user.KubeConfig()
	if err != nil {
		return err
	}
	kubeconfig := filepath.Join(abs(o.workdir), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	h := &harness{o: o}
	if h.k8s, err = client.New(cfg, client.Options{Scheme: manager.Scheme}); err != nil {
		return err
	}
	if err := h.startSimulators(); err != nil {
		return err
	}
	defer func() { _ = h.ex.Close() }()
	if err := h.createObjects(ctx); err != nil {
		return err
	}

	logf, err := os.Create(filepath.Join(o.workdir, "manager.log"))
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	metricsAddr, err := freeAddr()
	if err != nil {
		return err
	}
	args := []string{"--metrics-bind-address=" + metricsAddr, "--health-probe-bind-address=0", "--concurrency=8"}
	args = append(args, strings.Fields(o.managerFlags)...)
	mgr := exec.Command(abs(o.managerBin), args...)
	mgr.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	mgr.Stdout, mgr.Stderr = logf, logf
	if err := mgr.Start(); err != nil {
		return fmt.Errorf("start the manager (make build): %w", err)
	}
	defer func() {
		_ = mgr.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = mgr.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = mgr.Process.Kill()
		}
	}()

	fmt.Printf("%d rooms, simulator latency %s; waiting for every room's first sync...\n", o.rooms, o.latency)
	start := time.Now()
	if err := h.waitSynced(ctx, o.settle); err != nil {
		return err
	}
	fmt.Printf("all rooms synced after %s\n", time.Since(start).Round(time.Second))
	// Quiet period: a pass in flight from the start finishes before measuring.
	time.Sleep(3 * time.Second)

	passes0, passTime0, _ := passStats(metricsAddr)
	cpu0, _ := procCPU(mgr.Process.Pid)
	exBefore, rsBefore := h.ex.Counters(), h.rs.Counters()
	respaBefore := h.reservationVersions()
	res := h.measure(ctx)
	cpu1, _ := procCPU(mgr.Process.Pid)
	exAfter, rsAfter := h.ex.Counters(), h.rs.Counters()
	minutes := res.elapsed.Minutes()

	fmt.Printf("\n== %d edits in %s (%.1f/s), %d rooms, latency %s ==\n", len(res.toRespa)+len(res.toExchange)+res.lostE2R+res.lostR2E, res.elapsed.Round(time.Second), o.rate, o.rooms, o.latency)
	printLatency("Exchange -> Respa", res.toRespa, res.lostE2R)
	printLatency("Respa -> Exchange", res.toExchange, res.lostR2E)
	exReq := sumOps(exAfter.ByOperation) - sumOps(exBefore.ByOperation)
	rsReq := apiRequests(rsAfter) - apiRequests(rsBefore)
	fmt.Printf("requests per minute: Exchange %.0f, Respa %.0f\n", float64(exReq)/minutes, float64(rsReq)/minutes)
	fmt.Printf("writes on rooms with no change: Exchange %d, Respa %d\n", h.exchangeWritesOnQuietRooms(exBefore, exAfter, res.touchedRespa), h.respaWritesOnQuietRooms(respaBefore, res.touchedExchange))
	if n, total, err := passStats(metricsAddr); err == nil && n > passes0 {
		n, total = n-passes0, total-passTime0
		fmt.Printf("passes while editing: %.0f (%.1f per edit), mean duration %s\n", n, n/float64(len(res.toRespa)+len(res.toExchange)+res.lostE2R+res.lostR2E), time.Duration(total/n*float64(time.Second)).Round(time.Millisecond))
	}
	rss, _ := procPeakRSS(mgr.Process.Pid)
	fmt.Printf("manager: CPU %.1fs over %s (%.1f%% of a core), peak RSS %d MiB\n", (cpu1 - cpu0).Seconds(), res.elapsed.Round(time.Second), 100*(cpu1-cpu0).Seconds()/res.elapsed.Seconds(), rss>>20)
	return nil
}

func (h *harness) startSimulators() error {
	h.ex = exchangesim.New(exchangesim.Options{Latency: h.o.latency, MaxSubscriptionsPerMailbox: 20})
	base, err := h.ex.Start("127.0.0.1:0")
	if err != nil {
		return err
	}
	h.exURL = strings.TrimSuffix(base, "/") + "/EWS/Exchange.asmx"
	h.rs = respasim.New(respasim.Options{Latency: h.o.latency})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = (&http.Server{Handler: h.rs, ReadHeaderTimeout: 10 * time.Second}).Serve(ln) }()
	h.respaURL = "http://" + ln.Addr().String() + "/v1/"

	var mails []string
	h.rs.AddUnit(respasim.Unit{ID: "bench", Name: map[string]string{"fi": "Penkki"}})
	for i := 0; i < h.o.rooms; i++ {
		if _, err := h.ex.AddMailbox(roomMail(i), roomID(i)); err != nil {
			return err
		}
		mails = append(mails, roomMail(i))
		h.rs.AddResource(respasim.Resource{ID: roomID(i), UnitID: "bench", Name: map[string]string{"fi": roomID(i)}, Reservable: true, Public: true})
	}
	if err := h.ex.AddAccount(exchangesim.Account{User: "svc", Password: "bench-password", Impersonate: mails}); err != nil {
		return err
	}
	h.rs.AddUser(respasim.User{Username: "operator", Staff: true})
	h.rs.AddUser(respasim.User{Username: "citizen"})
	return h.rs.AddToken(respasim.Token{Kind: "Token", Key: "bench-token", Username: "operator"})
}

func (h *harness) createObjects(ctx context.Context) error {
	ns := "bench"
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ex"}, StringData: map[string]string{"password": "bench-password"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "respa"}, StringData: map[string]string{"token": "bench-token"}},
		&v1alpha1.ExchangeMailbox{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "mb"}, Spec: v1alpha1.ExchangeMailboxSpec{
			Exchange: v1alpha1.ExchangeEndpoint{URL: h.exURL, Auth: v1alpha1.ExchangeAuth{Basic: &v1alpha1.PasswordAuth{Username: "svc", PasswordSecretRef: v1alpha1.SecretKeySelector{Name: "ex", Key: "password"}}}},
			Respa:    v1alpha1.RespaEndpoint{URL: h.respaURL, CredentialsSecretRef: v1alpha1.SecretKeySelector{Name: "respa", Key: "token"}},
		}},
	}
	for i := 0; i < h.o.rooms; i++ {
		objs = append(objs, &v1alpha1.ExchangeResource{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: roomID(i)}, Spec: v1alpha1.ExchangeResourceSpec{
			MailboxRef: v1alpha1.LocalObjectReference{Name: "mb"},
			Exchange:   v1alpha1.ResourceExchange{Email: roomMail(i)},
			Respa:      v1alpha1.ResourceRespa{ResourceID: roomID(i)},
			// Only notifications and the Respa poller should bring changes across quickly;
			// the safety-net resync stays out of the measurement.
			ResyncInterval: metav1.Duration{Duration: time.Hour},
			Window:         v1alpha1.SyncWindow{Future: &metav1.Duration{Duration: 30 * 24 * time.Hour}},
		}})
	}
	for _, o := range objs {
		if err := h.k8s.Create(ctx, o); err != nil {
			return fmt.Errorf("create %s: %w", o.GetName(), err)
		}
	}
	return nil
}

func (h *harness) waitSynced(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var list v1alpha1.ExchangeResourceList
		if err := h.k8s.List(ctx, &list); err != nil {
			return err
		}
		synced := 0
		for _, r := range list.Items {
			if r.Status.LastSuccessfulSyncTime != nil {
				synced++
			}
		}
		if synced == h.o.rooms {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d rooms synced after %s", synced, h.o.rooms, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

type results struct {
	toRespa, toExchange           []time.Duration
	lostE2R, lostR2E              int
	elapsed                       time.Duration
	touchedExchange, touchedRespa map[int]bool // rooms edited on that side
}

// measure makes the edits and waits for each to appear on the other side.
func (h *harness) measure(ctx context.Context) results {
	res := results{touchedExchange: map[int]bool{}, touchedRespa: map[int]bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	rng := rand.New(rand.NewPCG(1, 2))
	interval := time.Duration(float64(time.Second) / h.o.rate)
	begin := time.Now()
	base := time.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour)
	for n := 0; time.Since(begin) < h.o.duration && ctx.Err() == nil; n++ {
		room := rng.IntN(h.o.rooms)
		// Each edit gets its own slot, so edits never overlap one another in Respa.
		slot := base.Add(time.Duration(n) * 90 * time.Minute)
		subject := fmt.Sprintf("latency-%d", n)
		fromExchange := n%2 == 0
		mu.Lock()
		if fromExchange {
			res.touchedExchange[room] = true
		} else {
			res.touchedRespa[room] = true
		}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			var err error
			if fromExchange {
				_, err = h.ex.CreateEvent(roomMail(room), exchangesim.Event{Subject: subject, Start: slot, End: slot.Add(time.Hour),
					Organizer: exchangesim.Person{Name: "Load Tester", SMTP: "load@bench.example"}})
			} else {
				// The event's subject will be "Respa - <reserver>"; the description becomes its body.
				_, err = h.rs.CreateAs("citizen", respasim.ReservationRequest{ResourceID: roomID(room), Begin: slot, End: slot.Add(time.Hour), EventSubject: subject, EventDescription: subject, ReserverName: "Load Tester"})
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, "edit:", err)
				return
			}
			seen := h.waitFor(ctx, fromExchange, room, subject, t0.Add(h.o.timeout))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case seen.IsZero() && fromExchange:
				res.lostE2R++
			case seen.IsZero():
				res.lostR2E++
			case fromExchange:
				res.toRespa = append(res.toRespa, seen.Sub(t0))
			default:
				res.toExchange = append(res.toExchange, seen.Sub(t0))
			}
		}()
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
	res.elapsed = time.Since(begin)
	wg.Wait()
	return res
}

// waitFor polls the other side until the edit shows there; zero means it never did.
func (h *harness) waitFor(ctx context.Context, fromExchange bool, room int, subject string, deadline time.Time) time.Time {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if fromExchange {
			for _, r := range h.rs.Reservations() {
				if r.ResourceID == roomID(room) && strings.Contains(r.EventSubject, subject) {
					return time.Now()
				}
			}
		} else if items, err := h.ex.Items(roomMail(room)); err == nil {
			for _, it := range items {
				if strings.Contains(it.Subject, subject) || strings.Contains(it.Body, subject) {
					return time.Now()
				}
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	return time.Time{}
}

// reservationVersions records each reservation's modified_at, to find writes on quiet rooms.
func (h *harness) reservationVersions() map[int]time.Time {
	out := map[int]time.Time{}
	for _, r := range h.rs.Reservations() {
		out[r.ID] = r.ModifiedAt
	}
	return out
}

func (h *harness) respaWritesOnQuietRooms(before map[int]time.Time, touchedExchange map[int]bool) int {
	n := 0
	for _, r := range h.rs.Reservations() {
		i, err := strconv.Atoi(strings.TrimPrefix(r.ResourceID, "room-"))
		if err != nil || touchedExchange[i] {
			continue
		}
		if t, ok := before[r.ID]; !ok || !t.Equal(r.ModifiedAt) {
			if !strings.HasPrefix(r.EventSubject, "latency-") || r.ModifiedAt.After(r.CreatedAt) {
				n++
			}
		}
	}
	return n
}

func (h *harness) exchangeWritesOnQuietRooms(before, after exchangesim.Counters, touchedRespa map[int]bool) int {
	n := 0
	for i := 0; i < h.o.rooms; i++ {
		if touchedRespa[i] {
			continue
		}
		for _, op := range []string{"CreateItem", "UpdateItem", "DeleteItem"} {
			n += after.ByMailbox[roomMail(i)][op] - before.ByMailbox[roomMail(i)][op]
		}
	}
	return n
}

func sumOps(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func apiRequests(m map[string]int64) int64 {
	var n int64
	for k, v := range m {
		if !strings.Contains(k, "admin") {
			n += v
		}
	}
	return n
}

func printLatency(name string, d []time.Duration, lost int) {
	if len(d) == 0 {
		fmt.Printf("%-18s no edit arrived (%d lost)\n", name, lost)
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	fmt.Printf("%-18s n=%d  p50 %s  p95 %s  p99 %s  max %s  lost %d\n", name, len(d), q(0.50).Round(time.Millisecond), q(0.95).Round(time.Millisecond), q(0.99).Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond), lost)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

// passStats reads the manager's pass count and total pass time from its metrics endpoint.
func passStats(addr string) (count, total float64, err error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(f[1], 64)
		switch {
		case strings.HasPrefix(f[0], "respa_exchange_sync_pass_duration_seconds_count"):
			count += v
		case strings.HasPrefix(f[0], "respa_exchange_sync_pass_duration_seconds_sum"):
			total += v
		}
	}
	return count, total, nil
}

// procCPU is the process's user+system CPU time from /proc.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("short /proc stat")
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100, nil
}

// procPeakRSS is VmHWM from /proc, in bytes.
func procPeakRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM")
}
