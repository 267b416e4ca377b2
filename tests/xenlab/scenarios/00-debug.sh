#!/bin/bash
. ./lib.sh "$@"
domu_disk
xl create "$DOMU_CFG"
sleep 40
ip -br link; ip -br addr; bridge link 2>&1
counter; echo; echo "counter rc=$?"
ping -c 2 -W 2 10.77.0.2; echo "ping rc=$?"
busybox nc -w 3 10.77.0.2 80 </dev/null; echo "nc rc=$?"
dmesg | tail -n 15
tail -n 8 /var/log/xen/console/guest-domu.log
cat /var/log/xen/xl-domu.log 2>/dev/null | tail -20
