// Package testenv lets tests skip when an outside tool or file is absent, except in CI, where
// .ci/run sets REQUIRE_<WHAT>=1 so that a missing install step fails instead of hiding behind
// a skip.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Requirement names, each matched by an environment variable REQUIRE_<NAME>.
const (
	Envtest     = "ENVTEST"
	Xmllint     = "XMLLINT"
	Exchangelib = "EXCHANGELIB"
	Shared      = "SHARED"
)

// Skip skips the test with the message, or fails it when REQUIRE_<what> is set.
func Skip(t testing.TB, what, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("REQUIRE_"+what) != "" {
		t.Fatalf("%s (REQUIRE_%s is set, so this is a failure)", msg, what)
	}
	t.Skip(msg)
}

// ModuleRoot is the directory holding go.mod, found by walking up from the working directory.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// SharedDir returns ../shared beside the checkout (Microsoft's EWS schema and EWS samples,
// which the project reads but does not copy), skipping when it is absent.
func SharedDir(t testing.TB) string {
	t.Helper()
	p := filepath.Join(filepath.Dir(ModuleRoot(t)), "shared")
	if _, err := os.Stat(p); err != nil {
		Skip(t, Shared, "%s is absent (CI has it beside the checkout); skipping", p)
	}
	return p
}

// Xmllint returns the path of xmllint (Debian libxml2-utils), skipping when it is absent.
func XmllintPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("xmllint")
	if err != nil {
		Skip(t, Xmllint, "xmllint is not installed (Debian package libxml2-utils); skipping")
	}
	return p
}
