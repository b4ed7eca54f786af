//go:build tools

// This file pins the project's chosen dependencies in go.mod until the
// packages that use them land.
package tools

import (
	_ "github.com/cockroachdb/pebble/v2"
	_ "github.com/hashicorp/memberlist"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/tidwall/redcon"
)
