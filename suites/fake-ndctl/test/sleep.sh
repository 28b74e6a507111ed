#!/bin/sh
echo "sleep.sh: waiting for an event that never comes"
exec sleep 100000
