package main

// The application's task map (docs/tasks.md, "Application tasks"): the
// global flag --task-map FILE, or MSTOOL_TASK_MAP, names tasks 16..31 for
// every command that names tasks. It is loaded into the UI, the one object
// every command gets, and passed on explicitly from there.

import (
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mstool/mstool/pkg/tasks"
)

// envTaskMap names the task map file when --task-map is not given.
const envTaskMap = "MSTOOL_TASK_MAP"

const taskMapHint = "the format is in docs/tasks.md, \"Application tasks\""

// taskMapPath is the task map file given to c: the --task-map nearest the
// command, else $MSTOOL_TASK_MAP; "" for none.
func taskMapPath(c *cli.Context) string {
	for _, x := range c.Lineage() { // the innermost first
		if x.IsSet("task-map") {
			return x.String("task-map")
		}
	}
	return os.Getenv(envTaskMap)
}

// readTaskMap reads and parses the task map file path.
func readTaskMap(path string) (*tasks.Map, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(err, path, "check --task-map or "+envTaskMap)
	}
	defer f.Close()
	m, err := tasks.ParseMap(f, path)
	if err != nil {
		return nil, usageErrorf(taskMapHint, "%v", err)
	}
	return m, nil
}

// loadTaskMap gives ui.tasks the task map of c (once per file).
func loadTaskMap(ui *UI, c *cli.Context) error {
	path := taskMapPath(c)
	if path == ui.taskMapPath {
		return nil
	}
	var m *tasks.Map
	if path != "" {
		var err error
		if m, err = readTaskMap(path); err != nil {
			return err
		}
	}
	ui.tasks, ui.taskMapPath = tasks.Codec{Map: m}, path
	return nil
}

// completionTaskMap is the task map for shell completion: as loadTaskMap,
// but a file that does not load completes the built-in tasks only.
func completionTaskMap(c *cli.Context) *tasks.Map {
	path := taskMapPath(c)
	if path == "" {
		return nil
	}
	m, err := readTaskMap(path)
	if err != nil {
		return nil
	}
	return m
}

// taskList names the tasks of t, comma-separated, as --tasks reads them.
func taskList(ui *UI, t tasks.Set) string {
	return strings.Join(ui.tasks.Map.TaskNames(t), ",")
}
