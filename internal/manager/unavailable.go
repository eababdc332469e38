package manager

import (
	"context"

	"github.com/respa-exchange/respa-exchange-operator/controllers"
)

// unavailableSyncer reports that no sync backend is wired, so a resource says so in its
// conditions instead of pretending to sync.
type unavailableSyncer struct{}

func (unavailableSyncer) Sync(context.Context, controllers.SyncRequest) (controllers.SyncResult, error) {
	return controllers.SyncResult{}, &controllers.StallingError{Reason: "SyncNotAvailable", Err: errSyncNotAvailable}
}

type syncNotAvailable struct{}

func (syncNotAvailable) Error() string { return "this build has no sync engine wired" }

var errSyncNotAvailable = syncNotAvailable{}
