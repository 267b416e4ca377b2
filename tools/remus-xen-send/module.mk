# tools/remus-xen-send: the Xen driver's save_stream towards `xl migrate-receive -r`
# (lab proof that Xen's own receiver accepts our streams; docs/xenlab.md).
PROGRAMS += remus-xen-send
remus-xen-send_SRCS := tools/remus-xen-send/main.c
$(BUILD)/obj/tools/remus-xen-send/%.o: BASE_CFLAGS += -std=gnu11
