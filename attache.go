// Package attache holds the files the binary ships with: the default
// config.yaml, the demo's queries and reports, and the dashboard's web assets.
// They are embedded so attache runs from a single file on a machine with no
// internet.
package attache

import "embed"

// DefaultConfig is config.yaml, used when no --config is given and there is
// no config.yaml in the working folder.
//
//go:embed config.yaml
var DefaultConfig []byte

// Files holds queries/, reports/ and web/.
//
//go:embed queries reports web
var Files embed.FS
