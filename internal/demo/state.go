package demo

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// State is what `demo run` leaves in its workdir for the demo's other commands.
type State struct {
	Kubeconfig  string `json:"kubeconfig"`
	Namespace   string `json:"namespace"`
	ExchangeURL string `json:"exchangeURL"`
	RespaURL    string `json:"respaURL"`
	// RespaUserToken books in Respa as the demo's plain user.
	RespaUserToken string `json:"respaUserToken"`
	PID            int    `json:"pid"`
}

const stateFile = "state.json"

func (e *Env) writeState() error {
	s := State{
		Kubeconfig:     e.Kubeconfig,
		Namespace:      e.Namespace,
		ExchangeURL:    e.ExchangeURL,
		RespaURL:       e.RespaURL,
		RespaUserToken: respaUserToken,
		PID:            os.Getpid(),
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(e.opts.Workdir, stateFile), data, 0o600)
}

// RemoveState deletes the state file when the demo stops.
func RemoveState(workdir string) { _ = os.Remove(filepath.Join(workdir, stateFile)) }

// ReadState reads the state of a running demo.
func ReadState(workdir string) (State, error) {
	var s State
	data, err := os.ReadFile(filepath.Join(workdir, stateFile))
	if err != nil {
		return s, fmt.Errorf("no running demo found in %s (start one with `make demo`): %w", workdir, err)
	}
	return s, json.Unmarshal(data, &s)
}
