#!/bin/sh
echo "pass.sh: checking that the guest has an nd region"
ls -d /sys/bus/nd/devices/region* >/dev/null 2>&1 || { echo "no nd region"; exit 1; }
echo "pass.sh: ok"
