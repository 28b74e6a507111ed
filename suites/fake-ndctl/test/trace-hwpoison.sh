#!/bin/bash
# What ndctl's dax-ext4.sh and its poison tests do together, in our own words:
# DAX and mm tracepoints switched on and off with trace-cmd (live patching of
# kernel text, which under TCG stalls every vCPU while translated code is
# flushed) while a DAX mmap workload runs and pages of it are poisoned, then a
# fault workload recorded the way dax-ext4.sh records it. Slow emulated work of
# this kind must reach its verdict, not be taken for a hang.
# Not `-e all`: patching every tracepoint, hot ones like process_one_work's
# among them, has held a TCG vCPU on the patch site for 78 s, which the guest
# kernel rightly reports as a soft lockup. No ndctl test asks for that much.
set -u
fail() { echo "trace-hwpoison.sh: $*"; exit 1; }
for t in trace-cmd jq dax_smoke hwpoison ndctl mkfs.ext4; do command -v "$t" >/dev/null || fail "$t missing"; done

# The first legacy (e820) namespace, as fsdax, with ext4 on it mounted -o dax.
ns=$(ndctl list -N -b e820 2>/dev/null | jq -r 'if type == "array" then .[0].dev else .dev end // empty')
[ -n "$ns" ] || { echo "trace-hwpoison.sh: no e820 namespace (memmap= legacy pmem), skipping"; exit 77; }
dev=$(ndctl create-namespace -f -e "$ns" -m fsdax 2>/dev/null | jq -r '.blockdev // empty')
[ -n "$dev" ] || fail "could not make $ns fsdax"
mnt=$(mktemp -d)
mkfs.ext4 -F -q -E stride=512,stripe_width=512 "/dev/$dev" || fail "mkfs.ext4 /dev/$dev"
mount -o dax "/dev/$dev" "$mnt" || fail "mount -o dax /dev/$dev"
cleanup() { trace-cmd reset >/dev/null 2>&1; umount "$mnt" 2>/dev/null; ndctl create-namespace -f -e "$ns" -m raw >/dev/null 2>&1; }
trap cleanup EXIT

# Tracepoints flip on and off in the background for the whole workload.
(
	for i in 1 2 3; do
		trace-cmd start -e fs_dax -e huge_memory -e filemap -e writeback >/dev/null 2>&1 || exit 1
		sleep 1
		trace-cmd stop >/dev/null 2>&1
		trace-cmd reset >/dev/null 2>&1 || exit 1
	done
) &
tracer=$!

dax_smoke --file "$mnt/smoke.dat" --seconds 2 || fail "dax_smoke failed under tracing"
hwpoison --file "$mnt/poison.dat" --seconds 1 || fail "hwpoison failed under tracing"
wait "$tracer" || fail "trace-cmd could not switch the DAX and mm tracepoints on and off"
out=$(mktemp -d)
trace-cmd record -o "$out/trace.dat" -e fs_dax dax_smoke --file "$mnt/recorded.dat" --seconds 1 >/dev/null 2>&1 || fail "trace-cmd record around dax_smoke"
trace-cmd report -i "$out/trace.dat" 2>/dev/null | grep -q 'dax_.*fault' || fail "no fs_dax fault event recorded while dax_smoke faulted DAX pages"
echo "trace-hwpoison.sh: ok"
