package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/switchboard-wamp/switchboard/config"
)

// FuzzParse: any input yields a config or a *config.Error, never a panic.
func FuzzParse(f *testing.F) {
	f.Add(config.DefaultYAML())
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("fuzz.yaml", data, nil)
		if err != nil {
			var cerr *config.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("parsed config does not validate: %v", err)
		}
	})
}
