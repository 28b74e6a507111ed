#!/bin/sh
# Passes, unless the kernel command line carries daxh.fake.kill_meson=1: then
# it kills the meson that runs it, so no testlog is written for this run. A
# harness that read an earlier run's log would report the earlier verdict.
case " $(cat /proc/cmdline) " in
*" daxh.fake.kill_meson=1 "*)
  echo "meson-dies.sh: killing meson (pid $PPID) before it writes its log"
  kill -KILL "$PPID"
  sleep 5
  exit 1
  ;;
esac
echo "meson-dies.sh: ok"
