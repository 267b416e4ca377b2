/* Driver registry and the small buffer types shared by all drivers. */
#include "hv/hv.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Each driver's module.mk adds -DHV_HAVE_<NAME> when it is built, so a
 * build without a driver still links and reports the driver missing. */
#ifdef HV_HAVE_PVM
extern const struct hv_ops pvm_hv_ops;
#endif
#ifdef HV_HAVE_XEN
extern const struct hv_ops xen_hv_ops;
#endif

const struct hv_ops *hv_driver(const char *name)
{
	if (name == NULL)
		return NULL;
#ifdef HV_HAVE_PVM
	if (strcmp(name, "pvm") == 0)
		return &pvm_hv_ops;
#endif
#ifdef HV_HAVE_XEN
	if (strcmp(name, "xen") == 0)
		return &xen_hv_ops;
#endif
	return NULL;
}

void hv_blob_free(struct hv_blob *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

void hv_handoff_free(struct hv_handoff *h)
{
	for (int i = 0; i < HV_HANDOFF_FDS; i++) {
		if (h->fd[i] >= 0)
			close(h->fd[i]);
		h->fd[i] = -1;
	}
	hv_blob_free(&h->blob);
}

void hv_pfn_list_free(struct hv_pfn_list *l)
{
	free(l->pfns);
	l->pfns = NULL;
	l->count = l->cap = 0;
}
