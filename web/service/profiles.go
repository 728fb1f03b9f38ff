package service

import (
	"context"
	"fmt"

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

// SetOrGroup is the set of that name (db.SetInfo), else the release group
// (db.Group: an NSRL import's "nsrl", with all of its sets).
func SetOrGroup(ctx context.Context, s Sets, name string) (any, error) {
	si, err := s.Set(ctx, name)
	if err == nil {
		return si, nil
	}
	g, gerr := s.Group(ctx, name)
	if gerr == nil {
		return g, nil
	}
	if db.KindOf(err) == db.ErrorNotFound && db.KindOf(gerr) == db.ErrorNotFound {
		return nil, fmt.Errorf("set %q: %w (no set or release group of that name)", name, db.ErrNotFound)
	}
	return nil, err
}
