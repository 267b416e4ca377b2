/* The engine's fault points (fault_impl.h): one call for every loop. */
#include "ckpt/fault_impl.h"

#include <inttypes.h>

int ckpt_fault(const struct ckpt_fault *f, const char *point, uint64_t epoch,
               struct remus_err *err)
{
	if (f->hit == NULL || f->hit(f->arg, point, epoch) == 0)
		return 0;
	return remus_err_set(err, CKPT_ESTOPPED, "stopped at fault point %s (epoch %" PRIu64 ")",
	                     point, epoch);
}
