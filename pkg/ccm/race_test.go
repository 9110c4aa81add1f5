//go:build race

package ccm_test

const raceEnabled = true
