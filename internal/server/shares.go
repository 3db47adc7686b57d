package server

import "time"

type shareState struct{}

func newShareState(now func() time.Time) (*shareState, error) { return &shareState{}, nil }
