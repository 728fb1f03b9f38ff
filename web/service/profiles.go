package service

import (
	"context"

	"github.com/matchmeta/matchmeta/db"
)

// ProfileTable is the OS profile table with the sets (their path sets
// show beside each profile). A nil svc means no database yet: the table
// a new one starts with.
func ProfileTable(ctx context.Context, svc Service) ([]db.Profile, []db.SetInfo, error) {
	if svc == nil {
		return db.DefaultProfiles(), nil, nil
	}
	ps, err := svc.Profiles(ctx)
	if err != nil {
		return nil, nil, err
	}
	sets, err := svc.Sets(ctx)
	if err != nil {
		return nil, nil, err
	}
	return ps, sets, nil
}
