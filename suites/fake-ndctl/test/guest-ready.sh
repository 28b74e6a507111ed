#!/bin/bash
# What ndctl's dax suite needs of the guest, checked the way its tests look
# for it (test/common, dax-dev.c, daxctl-*.sh, dm.sh, sub-section.sh), so a
# guest that would make real tests skip fails here with the reason.
missing=0
ok() { echo "ok: $*"; }
no() { echo "missing: $*"; missing=$((missing + 1)); }
GiB=$((1 << 30))

# nfit_test: loads, makes its buses, and the wrapped drivers won over the stock ones.
if modprobe nfit_test 2>/tmp/nfit.err; then
	if grep -qx nfit_test.0 /sys/bus/nd/devices/ndbus*/provider 2>/dev/null; then ok "nfit_test.0 bus"; else no "nfit_test loaded but no nfit_test.0 bus"; fi
	# As test/common's _cleanup does it.
	udevadm settle
	ndctl disable-region -b nfit_test.0 all >/dev/null
	ndctl disable-region -b nfit_test.1 all >/dev/null
	modprobe -r nfit_test 2>/tmp/nfit.err && ok "nfit_test unloads" || no "modprobe -r nfit_test: $(tail -1 /tmp/nfit.err)"
	# Unloading it must not take device_dax along (a later devdax test would race its reload).
	grep -q '^device_dax ' /proc/modules && ok "device_dax stays loaded after nfit_test's unload" || no "modprobe -r nfit_test unloaded device_dax"
else
	no "modprobe nfit_test: $(head -1 /tmp/nfit.err)"
fi
case "$(modinfo -n nd_pmem 2>/dev/null)" in
*/extra/*) ok "nd_pmem is nfit_test's wrapped copy" ;;
*) no "nd_pmem resolves to $(modinfo -n nd_pmem 2>/dev/null), not extra/ (nfit_test needs its wrapped drivers first)" ;;
esac

# e820 legacy pmem: dax-dev takes the lowest region; device-dax maps 2 GiB at 1 GiB alignment.
e820=$(ndctl list -R -b e820 2>/dev/null | jq -r 'if type == "array" then [.[].size] | max else .size end // 0' 2>/dev/null)
if [ "${e820:-0}" -ge $((3 * GiB)) ]; then ok "e820 region of $((e820 / GiB)) GiB"; else no "no e820 region of 3 GiB or more (memmap=3G!6G on the kernel command line)"; fi

# A labelled ACPI.NFIT region with free space: daxctl-devices creates 4 GiB, dm.sh 2 x 1 GiB.
avail=$(ndctl list -R -b ACPI.NFIT 2>/dev/null | jq -r 'if type == "array" then [.[].available_size] | max else .available_size end // 0' 2>/dev/null)
if [ "${avail:-0}" -ge $((4 * GiB)) ]; then ok "ACPI.NFIT region with $((avail / GiB)) GiB free"; else no "no ACPI.NFIT region with 4 GiB free (labelled NVDIMM, labels initialised): ${avail:-none}"; fi

# dax_hmem on soft-reserved memory (daxctl-create up to ndctl v79).
if ls -d /sys/devices/platform/hmem.* >/dev/null 2>&1; then ok "soft-reserved memory for dax_hmem"; else no "no hmem platform device (soft-reserved memory: memmap=SIZE%START-1+0xefffffff)"; fi
# cxl_test (daxctl-create of ndctl v80+) exists only for kernels built with the cxl-test fragment.
if modinfo cxl_test >/dev/null 2>&1; then
	if modprobe cxl_test 2>/tmp/cxl.err; then
		udevadm settle
		[ -e /sys/bus/cxl/devices/root0 ] && ok "cxl_test loads and makes its CXL root" || no "cxl_test loaded but /sys/bus/cxl/devices/root0 is missing"
		modprobe -r cxl_test 2>/dev/null
	else
		no "modprobe cxl_test: $(tail -1 /tmp/cxl.err)"
	fi
else
	echo "note: no cxl_test for this kernel (daxctl-create.sh of ndctl v80+ will skip)"
fi
[ -d /sys/devices/system/node/node1 ] && ok "NUMA node 1 (cxl_test's mock devices live there)" || no "NUMA node 1 (cxl_test allocates on it)"
modinfo kmem >/dev/null 2>&1 && ok "kmem module" || no "kmem module"
modinfo dax_hmem >/dev/null 2>&1 && ok "dax_hmem module" || no "dax_hmem module"

# device-dax's direct-i/o test opens a file with O_DIRECT in its working directory (the build dir).
if dd if=/dev/zero of=daxh-odirect.tmp bs=4096 count=1 oflag=direct 2>/tmp/odirect.err; then ok "O_DIRECT in the build directory"; else no "O_DIRECT in the build directory ($(pwd)): $(tail -1 /tmp/odirect.err)"; fi
rm -f daxh-odirect.tmp

for t in jq fio trace-cmd dmsetup journalctl mkfs.ext4 mkfs.xfs; do
	command -v "$t" >/dev/null && ok "$t" || no "$t"
done
fio --enghelp 2>/dev/null | grep -q dev-dax && ok "fio dev-dax engine" || no "fio without the dev-dax engine"
journalctl -k -n 1 --no-pager >/dev/null 2>&1 && ok "journald has the kernel log" || no "journalctl -k (check_dmesg reads it)"
[ -d /sys/kernel/tracing/events/fs_dax ] && ok "fs_dax trace events" || no "/sys/kernel/tracing/events/fs_dax (dax-ext4/xfs count dax_pmd_fault_done)"

[ "$missing" -eq 0 ] || { echo "guest-ready.sh: $missing of ndctl's needs missing"; exit 1; }
echo "guest-ready.sh: all of ndctl's needs present"
