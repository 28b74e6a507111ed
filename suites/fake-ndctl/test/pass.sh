#!/bin/sh
echo "pass.sh: checking that /dev/pmem* exists"
ls /dev/pmem* >/dev/null 2>&1 || { echo "no pmem device"; exit 1; }
echo "pass.sh: ok"
