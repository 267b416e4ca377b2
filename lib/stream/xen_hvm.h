/*
 * The HVM save structs of Xen's public headers (libxen-dev), usable from
 * -std=c11 code: <xen/hvm/save.h> refuses __STRICT_ANSI__ because of its
 * anonymous unions, which C11 has anyway.  Include this instead of the Xen
 * header to build or parse an HVM_CONTEXT blob: struct hvm_save_header,
 * struct hvm_save_descriptor, struct hvm_hw_cpu, HVM_SAVE_CODE(CPU), ...
 */
#ifndef REMUS_STREAM_XEN_HVM_H
#define REMUS_STREAM_XEN_HVM_H

#include <stdint.h>

#ifdef __STRICT_ANSI__
#define REMUS_STREAM_RESTORE_STRICT_ANSI
#undef __STRICT_ANSI__
#endif
#include <xen/xen.h>
#include <xen/hvm/save.h>
#include <xen/hvm/params.h>
#ifdef REMUS_STREAM_RESTORE_STRICT_ANSI
#define __STRICT_ANSI__ 1
#undef REMUS_STREAM_RESTORE_STRICT_ANSI
#endif

#include "stream/stream.h"

_Static_assert(sizeof(struct hvm_save_descriptor) == STREAM_HVM_DESC_SIZE,
    "hvm_save_descriptor layout");
_Static_assert(sizeof(struct hvm_save_header) == 24, "hvm_save_header layout");

/* Append a typed entry: STREAM_HVM_PUT(buf, CPU, vcpu_id, &cpu). */
#define STREAM_HVM_PUT(b, code, inst, ptr) \
	stream_hvm_put((b), HVM_SAVE_CODE(code), (inst), (ptr), HVM_SAVE_LENGTH(code))

#endif
