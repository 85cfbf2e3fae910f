//go:build !linux

package main

import "time"

// processCPU is not available: CPU times need Linux.
func processCPU(int) (time.Duration, error) { return 0, errNoCPUTime }

// selfCPU is not available: CPU times need Linux.
func selfCPU() (time.Duration, error) { return 0, errNoCPUTime }

// processWrites is not available: it needs Linux.
func processWrites(int) (int64, error) { return 0, errNoCPUTime }
