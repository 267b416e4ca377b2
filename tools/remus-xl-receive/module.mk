# tools/remus-xl-receive: `xl remus`'s receiver built on the Xen driver
# (docs/xen.md).  Run inside a Xen dom0; exercised by the lab scenario
# tests/xenlab/scenarios/40-xl-remus-to-remus.sh.
PROGRAMS += remus-xl-receive
remus-xl-receive_SRCS := tools/remus-xl-receive/main.c
