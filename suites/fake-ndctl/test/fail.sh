#!/bin/sh
echo "fail.sh: expected 2 namespaces, found 1" >&2
exit 1
