package flows

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// adviseHuge asks the kernel to back the whole 2 MiB pages inside
// [base, base+size) with transparent huge pages where it allows them on
// request (transparent_hugepage=madvise, the common default): large random
// access tables then miss the TLB far less. A hint only; errors are
// ignored.
func adviseHuge(base unsafe.Pointer, size uintptr) {
	const huge = 2 << 20
	start := (uintptr(base) + huge - 1) &^ (huge - 1)
	end := (uintptr(base) + size) &^ (huge - 1)
	if end <= start {
		return
	}
	p := unsafe.Add(base, start-uintptr(base))
	unix.Madvise(unsafe.Slice((*byte)(p), end-start), unix.MADV_HUGEPAGE)
}
