/* Shared by the NBD server's two files (nbd_proto.c, nbd_serve.c). */
#ifndef REMUS_DISKREP_NBD_IMPL_H
#define REMUS_DISKREP_NBD_IMPL_H

#include <stdint.h>

#include "diskrep/nbd.h"

uint16_t nbd_get16(const uint8_t *p);
uint32_t nbd_get32(const uint8_t *p);
uint64_t nbd_get64(const uint8_t *p);
void nbd_put16(uint8_t *p, uint16_t v);
void nbd_put32(uint8_t *p, uint32_t v);
void nbd_put64(uint8_t *p, uint64_t v);

/* The haggling before transmission: 1 to transmit, 0 the client aborted,
 * or an error. */
int nbd_negotiate(const struct nbd_io *io, const struct nbd_export *ex, struct remus_err *err);

#endif
