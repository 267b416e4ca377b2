# tools/pvm: the `pvm` command (run / save / restore / list).
PROGRAMS += pvm
pvm_SRCS := tools/pvm/pvm.c tools/pvm/pvm_ctl.c tools/pvm/pvm_image.c
