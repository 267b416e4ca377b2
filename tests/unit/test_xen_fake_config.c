/* For the tests that run remusd's sessions over the fake Xen: the fake host
 * has no libxl state, so the guest's configuration the primary sends first
 * is the fake JSON encoder's (linked with
 * -Wl,--wrap=libxl_retrieve_domain_configuration). */
#include <libxl.h>

int __wrap_libxl_retrieve_domain_configuration(libxl_ctx *ctx, uint32_t domid,
                                               libxl_domain_config *dc, const libxl_asyncop_how *ao);
int __wrap_libxl_retrieve_domain_configuration(libxl_ctx *ctx, uint32_t domid,
                                               libxl_domain_config *dc, const libxl_asyncop_how *ao)
{
	(void)ctx; (void)domid; (void)dc; (void)ao;
	return 0;
}
