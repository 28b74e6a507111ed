#!/bin/sh
# PID 1 of the stressor initramfs. Everything the harness needs from the guest
# happens over ssh; this only brings up what ssh and the tests depend on.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
up() { read -r u _ < /proc/uptime; echo "$u"; }
echo "daxh: init started at $(up)"

# The accelerator probe only needs to know that a guest reaches init.
case " $(cat /proc/cmdline) " in
*" daxh.probe=1 "*)
  echo "daxh: probe ok"
  echo o > /proc/sysrq-trigger
  sleep 10
  ;;
esac

# The harness's own tests make guests that break on demand: daxh.fault=ACTION
# loads our fault module (appended to the initrd as /daxh/daxh_fault.ko) with
# that action before sshd; daxh.stall=1 stops init here, a guest that never
# comes up without any kernel report; daxh.panic_after=S panics the kernel S
# seconds later (see below), daxh.sshd_kill_after=S kills sshd.
fault=$(sed -n 's/.*daxh\.fault=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$fault" ]; then
  echo "daxh: loading the fault module with action=$fault"
  insmod /daxh/daxh_fault.ko action="$fault" || echo "daxh: fault module failed to load"
fi
case " $(cat /proc/cmdline) " in
*" daxh.stall=1 "*)
  echo "daxh: stalling before sshd as asked"
  while true; do sleep 3600; done
  ;;
esac

# Root-disk mode (the rootfs image): this initramfs only loads what it takes
# to mount the disk, hands the kernel's modules over, and switches root.
root=$(sed -n 's/.*daxh\.root=\([^ ]*\).*/\1/p' /proc/cmdline)
if [ -n "$root" ]; then
  for m in virtio_pci virtio_blk ext4; do modprobe -q "$m"; done
  i=0
  while [ ! -b "$root" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
  mkdir -p /newroot
  if mount -t ext4 -o rw "$root" /newroot; then
    mkdir -p /newroot/usr/lib/modules /newroot/usr/local/bin
    cp -a /usr/lib/modules/. /newroot/usr/lib/modules/
    # The stressors travel with this initramfs, so the disk image never has
    # to be rebuilt when they change.
    for s in $(cat /etc/daxh/stressors 2>/dev/null); do cp "/usr/bin/$s" /newroot/usr/local/bin/; done
    echo "daxh: switching root to $root at $(up)"
    umount /tmp /sys/kernel/tracing /sys/kernel/debug /dev/pts 2>/dev/null
    for d in dev proc sys run; do mount --move /$d /newroot/$d; done
    exec switch_root /newroot /sbin/init
  fi
  echo "daxh: cannot mount root $root; staying in the initramfs"
fi

# daxh.endless=N: the report is printed here, before sshd, while the console
# is quiet (a kernel line in the middle would end it), and the boot waits for it.
endless=$(sed -n 's/.*daxh\.endless=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$endless" ]; then
  i=0
  while [ $i -lt 2000 ]; do echo "[   99.$((100000 + i))]  daxh_recurse+0x$((16 + i % 7))/0x80"; i=$((i + 1)); done > /tmp/frames
  printf '%s\n' '[   98.000000] BUG: kernel NULL pointer dereference, address: 0000000000000008' '[   98.000001] #PF: supervisor write access in kernel mode' \
    '[   98.000002] Oops: 0002 [#1] PREEMPT SMP NOPTI' '[   98.000003] CPU: 0 PID: 1 Comm: init Not tainted' '[   98.000004] RIP: 0010:daxh_recurse+0x10/0x80' \
    '[   98.000005] Call Trace:' '[   98.000006]  <TASK>' > /dev/console
  while cat /tmp/frames; do :; done | head -c "$endless" > /dev/console
  echo > /dev/console
  echo "daxh: endless report done" > /dev/console
fi

# Kernel modules come from a second cpio archive built for the kernel under
# test. The NIC's come first so sshd is reachable; the rest load in parallel in
# the background (TCG gives each vCPU its own host thread) and announce
# themselves with /run/daxh/modules-loaded, which the harness waits for.
mkdir -p /run/daxh
echo /sbin/modprobe > /proc/sys/kernel/modprobe
# sshd first: binding needs no network, and every millisecond before it
# listens is boot time the harness waits out.
# -s: keys only; -E: log to stderr (the console); -F: stay in the foreground.
dropbear -r /etc/dropbear/host_key -p 22 -s -E -F -P /run/dropbear.pid &
echo "daxh: sshd started at $(up)"
# daxh.panic_after=N panics the guest N s after sshd starts or, with
# daxh.panic_with=NAME, N s after a process NAME first runs: "mid-test" then
# holds however slow the boot was. The notice goes through /dev/kmsg, a whole
# record, so the panic's own lines cannot split it on the console.
after=$(sed -n 's/.*daxh\.panic_after=\([0-9]*\).*/\1/p' /proc/cmdline)
with=$(sed -n 's/.*daxh\.panic_with=\([A-Za-z0-9_.-]*\).*/\1/p' /proc/cmdline)
[ -n "$after" ] && (
  [ -z "$with" ] || until pidof "$with" > /dev/null; do sleep 1; done
  sleep "$after"
  echo "daxh: panicking as asked" > /dev/kmsg
  echo c > /proc/sysrq-trigger
) &
after=$(sed -n 's/.*daxh\.sshd_kill_after=\([0-9]*\).*/\1/p' /proc/cmdline)
[ -n "$after" ] && (sleep "$after"; echo "daxh: killing sshd as asked"; killall dropbear) &
# A hostile guest for the harness's own bounds: daxh.flood=N writes N bytes
# to the console without a newline (kernel lines printed meanwhile split it);
# daxh.endless=N (above) prints a report whose stack goes on for N bytes. Both
# are console text, no kernel fault; the emulated UART carries ~50 KB/s.
flood=$(sed -n 's/.*daxh\.flood=\([0-9]*\).*/\1/p' /proc/cmdline)
[ -n "$flood" ] && (head -c "$flood" /dev/zero | tr '\0' A > /dev/console; echo > /dev/console; echo "daxh: flood done" > /dev/console) &
modprobe -q virtio_pci 2>/dev/null
modprobe -q virtio_rng 2>/dev/null
modprobe -q virtio_net 2>/dev/null
ip link set lo up
ip link set eth0 up 2>/dev/null
ip addr add 10.0.2.15/24 dev eth0 2>/dev/null
ip route add default via 10.0.2.2 2>/dev/null

(
  for m in $(cat /etc/daxh/modules 2>/dev/null); do modprobe -q "$m" 2>/dev/null & done
  wait
  echo "daxh: modules loaded at $(up)"
  touch /run/daxh/modules-loaded
) &

while true; do sleep 3600; done
