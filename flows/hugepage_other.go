//go:build !linux

package flows

import "unsafe"

func adviseHuge(unsafe.Pointer, uintptr) {}
