#!/bin/sh
# Provokes a kernel report, as a test that hits a kernel bug would.
echo "oops.sh: triggering a crash"
sync
echo c > /proc/sysrq-trigger
sleep 600
