// Command switchboard runs the switchboard WAMP router.
//
//	switchboard [--config FILE]      serve (the embedded default config without --config)
//	switchboard check-config FILE    validate FILE: prints "FILE: OK" or every problem
//	switchboard version              print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/switchboard-wamp/switchboard/config"
	"github.com/switchboard-wamp/switchboard/router"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func main() {
	// A closed stdout or stderr (a log collector that went away) must not
	// kill the router: Go's default for a write to a broken pipe on fd 1 or
	// 2 is to die of SIGPIPE. Ignored, the write fails with EPIPE and only
	// that log line is lost.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, hup)
	stop()
	os.Exit(code)
}

// run is the command; ctx ends it (SIGINT, SIGTERM), each value on hup
// reloads the configuration file (SIGHUP).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, hup <-chan os.Signal) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintln(stdout, "switchboard", versionString())
			return 0
		case "check-config":
			return checkConfig(args[1:], stdout, stderr)
		case "keygen":
			return keygen(stdout, stderr)
		case "hash-secret":
			return hashSecret(args[1:], os.Stdin, stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("switchboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var path string
	fs.StringVar(&path, "config", "", "configuration file (default: the embedded default config)")
	fs.StringVar(&path, "c", "", "shorthand for --config")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage:\n  switchboard [--config FILE]\n  switchboard check-config FILE\n  switchboard keygen\n  switchboard hash-secret [--iterations N] [--keylen N] [--salt SALT] < secret\n  switchboard version\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "switchboard: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}

	cfg, err := loadConfig(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	log := newLogger(cfg.Log, stderr)
	source := path
	if source == "" {
		source = config.DefaultName
	}
	log.Info("starting switchboard", "version", versionString(), "config", source)

	srv, err := router.New(cfg, router.Options{Logger: log, Version: versionString()})
	if err != nil {
		log.Error("invalid configuration", "error", err)
		return 1
	}
	if err := srv.Start(ctx); err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	for waiting := true; waiting; {
		select {
		case <-ctx.Done():
			waiting = false
		case <-hup:
			reload(srv, path, log)
		}
	}
	log.Info("signal received, shutting down", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("shutdown timed out; remaining connections were closed", "error", err)
	}
	return 0
}

// reload applies the configuration file again; a file that does not load or
// changes what needs a restart is refused, and the running configuration
// stays.
func reload(srv *router.Server, path string, log *slog.Logger) {
	if path == "" {
		log.Info("reload ignored: running the embedded default config")
		return
	}
	cfg, err := config.Load(path)
	if err == nil {
		err = srv.Reload(cfg)
	}
	if err != nil {
		log.Error("reload refused, the running configuration stays", "error", err)
		return
	}
	log.Info("reload applied", "config", path)
}

func loadConfig(path string) (*config.Config, error) {
	if path == "" {
		return config.Default()
	}
	return config.Load(path)
}

func checkConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: switchboard check-config FILE")
		return 2
	}
	if _, err := config.Load(args[0]); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: OK\n", args[0])
	return 0
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func versionString() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}
