package main

// One rendering of a task result for ESP and MSSL (tasks.Result; the
// schema is documented in docs/json.md, "Task results").

import (
	"fmt"

	"github.com/mstool/mstool/pkg/tasks"
)

// taskResultJSON is a task result as --json prints it. "type" lets a
// reader of JSON lines (the shells) tell results from other objects.
type taskResultJSON struct {
	Type string `json:"type"` // "task"
	tasks.Result
}

// writeTaskResult prints r: its fields as a table for people (nothing
// when the task did not succeed: the error says why), or the JSON object.
func writeTaskResult(ui *UI, r tasks.Result) error {
	if ui.JSON {
		return ui.WriteJSON(taskResultJSON{Type: "task", Result: r})
	}
	if r.StatusCode != int(tasks.StatusOK) {
		return nil
	}
	switch {
	case r.DecodeError != "":
		ui.KeyValues([][2]string{{"raw", r.Raw}})
	case len(r.Fields) == 0:
		ui.KeyValues([][2]string{{"status", r.Status}})
	default:
		rows := make([][2]string, len(r.Fields))
		for i, f := range r.Fields {
			rows[i] = [2]string{f.Name, fmt.Sprint(f.Value)}
		}
		ui.KeyValues(rows)
	}
	return nil
}
