# lib/hv: the hypervisor driver interface (drivers live in subfolders).
LIB_SRCS += lib/hv/hv.c
