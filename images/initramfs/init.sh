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

# Kernel modules come from a second cpio archive built for the kernel under
# test. The NIC's come first so sshd can start; the rest load in parallel in
# the background (TCG gives each vCPU its own host thread) and announce
# themselves with /run/daxh/modules-loaded, which the harness waits for.
mkdir -p /run/daxh
echo /sbin/modprobe > /proc/sys/kernel/modprobe
modprobe -q virtio_pci 2>/dev/null
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

# -s: keys only; -E: log to stderr (the console); -F: stay in the foreground.
dropbear -r /etc/dropbear/host_key -p 22 -s -E -F -P /run/dropbear.pid &
echo "daxh: sshd started at $(up)"
while true; do sleep 3600; done
