#!/bin/sh
echo "skip.sh: nfit_test.0 bus not found, skipping"
exit 77
