//go:build !unix

package bootstrap

import "errors"

var errConnRefused = errors.New("connection refused")
