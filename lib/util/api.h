/*
 * What libremus exports.  The library is built with -fvisibility=hidden:
 * only declarations between REMUS_API_BEGIN and REMUS_API_END (the
 * documented API: util/err.h, stream/stream.h, hv/hv.h, net/net.h,
 * ckpt/ckpt.h, the headers `make install` puts in include/remus) are
 * visible in libremus.so; everything else stays internal and may change.
 * Programs and tests of this tree link the static library and still see
 * the internals.
 */
#ifndef REMUS_UTIL_API_H
#define REMUS_UTIL_API_H

#define REMUS_API_BEGIN _Pragma("GCC visibility push(default)")
#define REMUS_API_END   _Pragma("GCC visibility pop")

#endif
