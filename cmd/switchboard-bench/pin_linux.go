package main

import "golang.org/x/sys/unix"

// pinToCPU1 runs the load generator on CPU 1 (the router gets CPU 0).
func pinToCPU1() error {
	var set unix.CPUSet
	set.Set(1)
	return unix.SchedSetaffinity(0, &set)
}
