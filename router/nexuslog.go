package router

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/gammazero/nexus/v3/stdlog"
)

// nexusLogger forwards nexus's own log lines to slog at debug level: they
// are about its internals, and what operators need is logged by us.
type nexusLogger struct{ log *slog.Logger }

var _ stdlog.StdLog = nexusLogger{}

func (l nexusLogger) Print(v ...any) { l.emit(fmt.Sprint(v...)) }

func (l nexusLogger) Println(v ...any) { l.emit(fmt.Sprintln(v...)) }

func (l nexusLogger) Printf(format string, v ...any) { l.emit(fmt.Sprintf(format, v...)) }

func (l nexusLogger) emit(s string) {
	l.log.Debug("nexus", "detail", strings.TrimSpace(s))
}
