// Package synctest holds in-memory fakes of the two sides of a sync pass and of the ledger
// store, with Exchange-like and Respa-like behaviour and fault injection, for the engine's
// tests and for anyone wiring the runner.
package synctest

import (
	"errors"
	"math/rand/v2"
	stdsync "sync"
)

// ErrCrashed is returned by every fake once the shared crash point was reached; the pass
// stops there as if the process had died.
var ErrCrashed = errors.New("process crashed")

// ErrUnavailable stands for a 5xx answer or throttling; ErrTimeout for a call whose effect
// is unknown to the caller (the fakes apply the writes, then report the timeout).
var (
	ErrUnavailable = errors.New("service unavailable (503)")
	ErrThrottled   = errors.New("throttled (429)")
	ErrTimeout     = errors.New("request timed out")
)

// Faults is shared by the fakes of one scenario so that a crash stops all of them at once.
// Rates are probabilities per call (per item for conflicts). The zero value injects nothing.
type Faults struct {
	mu   stdsync.Mutex
	rng  *rand.Rand
	on   bool
	Rate struct {
		Unavailable float64 // a call fails before doing anything
		Throttled   float64
		Timeout     float64 // a write call does its work and then reports a timeout
		Conflict    float64 // an update item fails with a ChangeKey conflict
		Partial     float64 // a listing comes back incomplete, with items missing
	}
	writesLeft int // writes allowed before the crash; negative: no crash planned
	crashed    bool
	// Writes counts the writes attempted through the fakes, ledger saves included.
	Writes int
}

// NewFaults returns faults driven by a seeded generator, initially off.
func NewFaults(seed uint64) *Faults {
	return &Faults{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), writesLeft: -1}
}

// Enable turns the random faults on or off (a planned crash is not affected).
func (f *Faults) Enable(on bool) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.on = on
}

// CrashAfter makes the fakes crash when a write is attempted after k more writes.
func (f *Faults) CrashAfter(k int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writesLeft = k
}

// Restart clears a crash, as a restarted manager would find the world.
func (f *Faults) Restart() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashed = false
	f.writesLeft = -1
}

// Crashed reports whether the planned crash happened.
func (f *Faults) Crashed() bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

func (f *Faults) roll(p float64) bool {
	return f.on && p > 0 && f.rng.Float64() < p
}

// call is checked at the start of every call.
func (f *Faults) call() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.crashed:
		return ErrCrashed
	case f.roll(f.Rate.Unavailable):
		return ErrUnavailable
	case f.roll(f.Rate.Throttled):
		return ErrThrottled
	}
	return nil
}

// write is checked before each single write takes effect.
func (f *Faults) write() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.crashed {
		return ErrCrashed
	}
	if f.writesLeft == 0 {
		f.crashed = true
		return ErrCrashed
	}
	if f.writesLeft > 0 {
		f.writesLeft--
	}
	f.Writes++
	return nil
}

func (f *Faults) timeout() bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.roll(f.Rate.Timeout)
}

func (f *Faults) conflict() bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.roll(f.Rate.Conflict)
}

// partial returns a drop function for an incomplete listing, or nil.
func (f *Faults) partial() func() bool {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.roll(f.Rate.Partial) {
		return nil
	}
	return func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.rng.IntN(3) == 0
	}
}

// WriteCount returns the writes attempted so far.
func (f *Faults) WriteCount() int {
	if f == nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Writes
}
