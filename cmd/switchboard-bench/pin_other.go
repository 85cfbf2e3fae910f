//go:build !linux

package main

import "errors"

// pinToCPU1 is not available: run with -pin=false.
func pinToCPU1() error { return errors.New("CPU pinning needs Linux; run with -pin=false") }
