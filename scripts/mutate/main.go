// Command mutate applies each mutation of a list to the source tree, one at
// a time, runs the tests that should notice it, and reports whether they
// did (killed) or not (survived). It restores every file it changes. Run it
// from the repository root:
//
//	go run ./scripts/mutate                  # every mutation in scripts/mutations.txt
//	go run ./scripts/mutate -only nonce      # those whose name contains "nonce"
//
// It exits 1 if any mutation survives or cannot be applied.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// mutation is one small, plausible regression.
type mutation struct {
	name, file, find, replace string
	// test is the argument list of `go test` that must fail.
	test []string
}

func main() {
	list := flag.String("list", "scripts/mutations.txt", "the mutations")
	only := flag.String("only", "", "run only mutations whose name contains this")
	timeout := flag.Duration("timeout", 5*time.Minute, "bound on each test run")
	flag.Parse()
	ms, err := parse(*list)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mutate:", err)
		os.Exit(2)
	}
	failed := 0
	for _, m := range ms {
		if !strings.Contains(m.name, *only) {
			continue
		}
		verdict, detail := run(m, *timeout)
		if verdict != "killed" {
			failed++
		}
		fmt.Printf("%-9s %s%s\n", verdict, m.name, detail)
	}
	if failed > 0 {
		fmt.Printf("%d mutation(s) not killed\n", failed)
		os.Exit(1)
	}
	fmt.Println("every mutation killed")
}

// run applies m, runs its tests and restores the file.
func run(m mutation, timeout time.Duration) (verdict, detail string) {
	orig, err := os.ReadFile(m.file)
	if err != nil {
		return "error", ": " + err.Error()
	}
	if n := bytes.Count(orig, []byte(m.find)); n != 1 {
		return "error", fmt.Sprintf(": %q occurs %d times in %s (want once)", m.find, n, m.file)
	}
	mutated := bytes.Replace(orig, []byte(m.find), []byte(m.replace), 1)
	if err := os.WriteFile(m.file, mutated, 0o644); err != nil {
		return "error", ": " + err.Error()
	}
	defer func() {
		if err := os.WriteFile(m.file, orig, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "mutate: RESTORE %s BY HAND: %v\n", m.file, err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"test", "-count=1"}, m.test...)...)
	cmd.Env = append(os.Environ(), "SWITCHBOARD_TEST_QUIET=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return "SURVIVED", " (go test " + strings.Join(m.test, " ") + " passed)"
	case ctx.Err() != nil:
		return "killed", " (timed out)"
	case errors.As(err, &exit):
		if bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")) {
			return "error", ": the mutation does not compile:\n" + string(out)
		}
		return "killed", " by " + firstFailure(out)
	}
	return "error", ": " + err.Error()
}

// firstFailure names the first failing test in go test's output.
func firstFailure(out []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "--- FAIL:") {
			return strings.Fields(line)[2]
		}
	}
	return "a failing package"
}

// parse reads blocks of "key: value" lines separated by blank lines; keys
// are name, file, find, replace and test. In find and replace, \n stands
// for a newline and \t for a tab.
func parse(path string) ([]mutation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var ms []mutation
	var cur mutation
	flush := func(line int) error {
		if cur.name == "" && cur.file == "" && cur.find == "" && len(cur.test) == 0 {
			return nil
		}
		if cur.name == "" || cur.file == "" || cur.find == "" || len(cur.test) == 0 {
			return fmt.Errorf("%s: mutation ending at line %d needs name, file, find and test", path, line)
		}
		ms = append(ms, cur)
		cur = mutation{}
		return nil
	}
	unescape := strings.NewReplacer(`\n`, "\n", `\t`, "\t").Replace
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.TrimSpace(line) == "" {
			if err := flush(i + 1); err != nil {
				return nil, err
			}
			continue
		}
		key, value, ok := strings.Cut(line, ": ")
		if !ok {
			key, value, ok = strings.Cut(line, ":")
		}
		if !ok {
			return nil, fmt.Errorf("%s:%d: want key: value", path, i+1)
		}
		switch key {
		case "name":
			cur.name = value
		case "file":
			cur.file = value
		case "find":
			cur.find = unescape(value)
		case "replace":
			cur.replace = unescape(value)
		case "test":
			cur.test = splitArgs(value)
		default:
			return nil, fmt.Errorf("%s:%d: unknown key %q", path, i+1, key)
		}
	}
	return ms, flush(len(data))
}

// splitArgs splits on spaces, keeping 'single-quoted' runs together.
func splitArgs(s string) []string {
	var args []string
	var b strings.Builder
	quoted, started := false, false
	for _, r := range s {
		switch {
		case r == '\'':
			quoted, started = !quoted, true
		case r == ' ' && !quoted:
			if started {
				args = append(args, b.String())
				b.Reset()
				started = false
			}
		default:
			b.WriteRune(r)
			started = true
		}
	}
	if started {
		args = append(args, b.String())
	}
	return args
}
