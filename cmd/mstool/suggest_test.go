package main

import (
	"reflect"
	"testing"
)

func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"ping", "ping", 0},
		{"pign", "ping", 1}, // a swap counts once
		{"keygn", "keygen", 1},
		{"otput", "output", 1},
		{"kitten", "sitting", 3},
		{"", "abc", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	cmds := []string{"ping", "send", "recv", "exec", "shell", "sa"}
	for _, tc := range []struct {
		typed string
		want  []string
	}{
		{"pign", []string{"ping"}},
		{"PING", []string{"ping"}}, // case differs only
		{"Pnig", []string{"ping"}},
		{"se", []string{"send", "sa"}}, // prefixes first
		{"s", nil},                     // one letter guesses nothing
		{"x", nil},
		{"frobnicate", nil},
		{"", nil},
	} {
		got := suggest(tc.typed, cmds)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("suggest(%q) = %q, want %q", tc.typed, got, tc.want)
		}
	}
	if got := suggest("x", []string{"h", "p"}); got != nil {
		t.Errorf("suggest(x, [h p]) = %q: nothing of x is left in h or p", got)
	}
}
