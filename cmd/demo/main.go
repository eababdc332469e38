// Command demo runs respa-exchange-operator on one machine and acts on it as people would.
//
//	demo run [-assets bin/k8s] [-workdir .demo]     start everything and show a live view (Ctrl-C stops it)
//	demo status                                      print the view once
//	demo book -room aurora -at "tomorrow 11:00" [-for 1h] [-subject S] [-organizer "Alice Andersson"]
//	                                                 book a meeting in the room's Exchange calendar (as Outlook would)
//	demo move -room aurora -subject S -at "tomorrow 12:00"
//	demo cancel -room aurora -subject S              delete the meeting in Exchange
//	demo respa-book -room boreal -at "tomorrow 14:00" [-for 1h] [-subject S]
//	                                                 reserve the room in Respa as a plain user
//	demo respa-cancel -id N                          cancel reservation N in Respa
//	demo list -room aurora                           what both systems hold for the room
//
// Times are in the rooms' zone (Europe/Helsinki): "tomorrow 11:00", "today 16:30",
// "2026-12-01 09:00", or "+2h" from now.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	"github.com/respa-exchange/respa-exchange-operator/internal/demo"
	"github.com/respa-exchange/respa-exchange-operator/internal/manager"
)

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "run":
		err = run(ctx, args)
	case "status":
		err = statusCmd(ctx, args)
	case "book", "move", "cancel", "respa-book", "respa-cancel", "list":
		err = act(ctx, cmd, args)
	case "-h", "--help", "help":
		usage()
	default:
		usage()
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: demo run | status | book | move | cancel | respa-book | respa-cancel | list   (demo <command> -h for flags)`)
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	assets := fs.String("assets", "bin/k8s", "folder with kube-apiserver, etcd and kubectl")
	workdir := fs.String("workdir", ".demo", "folder for the kubeconfig, state and logs")
	metrics := fs.String("metrics", "127.0.0.1:18080", "manager metrics address")
	refresh := fs.Duration("refresh", 2*time.Second, "refresh interval of the live view")
	once := fs.Bool("once", false, "print the view once the resources have synced, then stop (for scripts)")
	_ = fs.Parse(args)
	abs := func(p string) string { a, _ := filepath.Abs(p); return a }

	if err := os.MkdirAll(*workdir, 0o700); err != nil {
		return err
	}
	logPath := filepath.Join(*workdir, "manager.log")
	zcfg := zap.NewProductionConfig()
	zcfg.OutputPaths = []string{logPath}
	zcfg.ErrorOutputPaths = []string{logPath}
	zl, err := zcfg.Build()
	if err != nil {
		return err
	}
	defer func() { _ = zl.Sync() }()

	fmt.Println("Starting kube-apiserver, etcd, the Exchange and Respa simulators and the manager...")
	env, err := demo.Start(ctx, demo.Options{Assets: abs(*assets), Workdir: abs(*workdir), MetricsAddr: *metrics, Logger: zapr.NewLogger(zl)})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("\nStopping the manager, the simulators, kube-apiserver and etcd...")
		env.Stop()
		demo.RemoveState(abs(*workdir))
		fmt.Println("Stopped; nothing is left running.")
	}()
	header := intro(env, abs(*workdir), *metrics, logPath)
	if *once {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) && !allSynced(ctx, env) {
			time.Sleep(time.Second)
		}
		fmt.Print(header)
		return demo.WriteTable(ctx, env.Client, env.Namespace, os.Stdout)
	}
	tty := isTerminal()
	tick := time.NewTicker(*refresh)
	defer tick.Stop()
	for {
		if tty {
			fmt.Print("\033[H\033[2J")
		}
		fmt.Print(header)
		fmt.Printf("\n%s (refreshing every %s; Ctrl-C stops everything)\n\n", time.Now().Format("15:04:05"), *refresh)
		if err := demo.WriteTable(ctx, env.Client, env.Namespace, os.Stdout); err != nil && ctx.Err() == nil {
			fmt.Println("  (cannot read the status:", err, ")")
		}
		if err := env.Err(); err != nil {
			return fmt.Errorf("manager: %w (see %s)", err, logPath)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

func allSynced(ctx context.Context, env *demo.Env) bool {
	var buf strings.Builder
	if err := demo.WriteTable(ctx, env.Client, env.Namespace, &buf); err != nil {
		return false
	}
	return !strings.Contains(buf.String(), "never")
}

func intro(env *demo.Env, workdir, metrics, logPath string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "respa-exchange-operator demo\n\n")
	fmt.Fprintf(&b, "  kubectl:   export KUBECONFIG=%s\n", env.Kubeconfig)
	fmt.Fprintf(&b, "             bin/k8s/kubectl get exmb,exres -n %s      bin/k8s/kubectl describe exres aurora -n %s\n", env.Namespace, env.Namespace)
	fmt.Fprintf(&b, "  Exchange:  %s/EWS/Exchange.asmx (admin API %s/admin/)\n", env.ExchangeURL, env.ExchangeURL)
	fmt.Fprintf(&b, "  Respa:     %s/v1/ (admin API %s/admin/)\n", env.RespaURL, env.RespaURL)
	fmt.Fprintf(&b, "  metrics:   http://%s/metrics      manager log: %s\n", metrics, logPath)
	fmt.Fprintf(&b, "  in another terminal:\n")
	fmt.Fprintf(&b, "    bin/demo book -room aurora -at \"tomorrow 11:00\" -subject \"Team lunch\"   (a meeting booked in Outlook)\n")
	fmt.Fprintf(&b, "    bin/demo respa-book -room boreal -at \"tomorrow 14:00\"                     (a reservation made in Respa)\n")
	fmt.Fprintf(&b, "    bin/demo move -room aurora -subject \"Team lunch\" -at \"tomorrow 12:00\"   bin/demo cancel -room aurora -subject \"Team lunch\"\n")
	fmt.Fprintf(&b, "    bin/demo list -room aurora                                                 (both sides of a room)\n")
	return b.String()
}

func statusCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ExitOnError)
	workdir := fs.String("workdir", ".demo", "the running demo's workdir")
	_ = fs.Parse(args)
	st, err := demo.ReadState(*workdir)
	if err != nil {
		return err
	}
	cfg, err := config.GetConfigWithContext("")
	if st.Kubeconfig != "" {
		_ = os.Setenv("KUBECONFIG", st.Kubeconfig)
		cfg, err = config.GetConfig()
	}
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme})
	if err != nil {
		return err
	}
	return demo.WriteTable(ctx, c, st.Namespace, os.Stdout)
}

func act(ctx context.Context, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	workdir := fs.String("workdir", ".demo", "the running demo's workdir")
	roomName := fs.String("room", "aurora", "room: "+roomNames())
	at := fs.String("at", "", `start time in the rooms' zone: "tomorrow 11:00", "today 16:30", "2026-12-01 09:00" or "+2h"`)
	dur := fs.Duration("for", time.Hour, "length of the booking")
	subject := fs.String("subject", "", "subject (book, respa-book); the event to act on (move, cancel)")
	organizer := fs.String("organizer", "Alice Andersson", "organizer of an Exchange booking")
	id := fs.Int("id", 0, "Respa reservation id (respa-cancel)")
	_ = fs.Parse(args)
	st, err := demo.ReadState(*workdir)
	if err != nil {
		return err
	}
	room, ok := demo.RoomByName(*roomName)
	if !ok {
		return fmt.Errorf("unknown room %q; the demo has %s", *roomName, roomNames())
	}
	needTime := func() (time.Time, error) {
		if *at == "" {
			return time.Time{}, errors.New("-at is required")
		}
		return parseWhen(*at)
	}
	switch cmd {
	case "book":
		start, err := needTime()
		if err != nil {
			return err
		}
		if *subject == "" {
			*subject = "Meeting booked in Outlook"
		}
		it, err := demo.BookInExchange(ctx, st, room, *subject, *organizer, start, *dur)
		if err != nil {
			return err
		}
		fmt.Printf("Booked %q in %s, %s; it should appear in Respa within seconds (bin/demo list -room %s).\n", it.Subject, room.Email, span(it.Start, it.End), room.Name)
	case "move":
		start, err := needTime()
		if err != nil {
			return err
		}
		it, err := demo.MoveInExchange(ctx, st, room, *subject, start)
		if err != nil {
			return err
		}
		fmt.Printf("Moved %q to %s.\n", it.Subject, span(it.Start, it.End))
	case "cancel":
		it, err := demo.CancelInExchange(ctx, st, room, *subject)
		if err != nil {
			return err
		}
		fmt.Printf("Deleted %q from %s.\n", it.Subject, room.Email)
	case "respa-book":
		start, err := needTime()
		if err != nil {
			return err
		}
		if *subject == "" {
			*subject = "Reserved in Respa"
		}
		r, err := demo.BookInRespa(ctx, st, room, *subject, start, *dur)
		if err != nil {
			return err
		}
		fmt.Printf("Reserved %s in Respa as reservation %d (%s), state %s.\n", room.ResourceID, r.ID, span(r.Begin, r.End), r.State)
	case "respa-cancel":
		if *id == 0 {
			return errors.New("-id is required")
		}
		if err := demo.CancelInRespa(ctx, st, *id); err != nil {
			return err
		}
		fmt.Printf("Cancelled Respa reservation %d.\n", *id)
	case "list":
		l, err := demo.List(ctx, st, room, 60*24*time.Hour)
		if err != nil {
			return err
		}
		fmt.Printf("Exchange calendar of %s:\n", room.Email)
		for _, it := range l.Exchange {
			fmt.Printf("  %-32s %-38s organizer %s\n", span(it.Start, it.End), it.Subject, it.Organizer.SMTP)
		}
		fmt.Printf("Respa reservations of %s:\n", room.ResourceID)
		for _, r := range l.Respa {
			fmt.Printf("  %-5d %-32s %-10s %-38s %s\n", r.ID, span(r.Begin, r.End), r.State, r.EventSubject, r.ReserverName)
		}
	}
	return nil
}

func roomNames() string {
	var names []string
	for _, r := range demo.Rooms {
		names = append(names, r.Name)
	}
	return strings.Join(names, ", ")
}

func span(a, b time.Time) string {
	return a.In(demo.Zone).Format("Mon 2 Jan 15:04") + "–" + b.In(demo.Zone).Format("15:04")
}

// parseWhen reads the few time forms the commands accept, in the rooms' zone.
func parseWhen(s string) (time.Time, error) {
	now := time.Now().In(demo.Zone)
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "+") {
		d, err := time.ParseDuration(s[1:])
		return now.Add(d).Truncate(time.Minute), err
	}
	day := now
	switch {
	case strings.HasPrefix(s, "today "):
		s = strings.TrimPrefix(s, "today ")
	case strings.HasPrefix(s, "tomorrow "):
		s, day = strings.TrimPrefix(s, "tomorrow "), now.AddDate(0, 0, 1)
	default:
		t, err := time.ParseInLocation("2006-01-02 15:04", s, demo.Zone)
		if err != nil {
			return t, fmt.Errorf(`cannot read time %q: use "tomorrow 11:00", "today 16:30", "2026-12-01 09:00" or "+2h"`, s)
		}
		return t, nil
	}
	hm := strings.SplitN(s, ":", 2)
	if len(hm) != 2 {
		return time.Time{}, fmt.Errorf("cannot read time of day %q: use HH:MM", s)
	}
	h, err1 := strconv.Atoi(hm[0])
	m, err2 := strconv.Atoi(hm[1])
	if err1 != nil || err2 != nil || h > 23 || m > 59 {
		return time.Time{}, fmt.Errorf("cannot read time of day %q: use HH:MM", s)
	}
	return time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, demo.Zone), nil
}

func isTerminal() bool {
	fi, err := os.Stdout.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
