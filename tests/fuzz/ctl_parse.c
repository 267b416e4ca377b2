/* libFuzzer target: the control-protocol decoder, header-first as the
 * server reads, then whole messages; accepted requests must re-encode. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remusd/ctl_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t again[CTL_MSG_MAX];
	struct remus_err err = { 0 };
	struct ctl_msg m;
	uint32_t blen = 0;
	uint16_t type = 0;
	int n = -1;

	if (ctl_parse_header(data, size, &type, &blen, &err) == 0 && blen > CTL_BODY_MAX)
		abort();
	if (ctl_parse(data, size, &m, &err) != 0)
		return 0;
	switch (m.type) {
	case CTL_LIST:
		n = ctl_encode_list(again, sizeof(again), m.seq);
		break;
	case CTL_PROTECT:
		n = ctl_encode_protect(again, sizeof(again), m.seq, m.guest, m.peer, m.unsafe);
		break;
	case CTL_REPLY:
		n = ctl_encode_reply(again, sizeof(again), m.seq, m.code, m.format, m.payload,
				     m.payload_len);
		break;
	case CTL_SET:
		n = ctl_encode_set(again, sizeof(again), m.seq, m.guest, m.setting, m.value);
		break;
	case CTL_STORE:
		n = ctl_encode_store(again, sizeof(again), m.seq, m.guest, m.store_op, m.path,
				     m.path_len, m.store_value, m.store_value_len);
		break;
	case CTL_UPGRADE:
		n = ctl_encode_upgrade(again, sizeof(again), m.seq, m.peer);
		break;
	case CTL_EVACUATE:
		/* flags 0 encode as the short form; a long form with 0 has no
		 * other encoding to compare with */
		if (m.evac_flags == 0 && size != CTL_HDR_LEN + CTL_GUEST_MAX)
			return 0;
		n = (m.evac_flags & CTL_EVAC_TO) ?
		    ctl_encode_evacuate_to(again, sizeof(again), m.seq, m.guest, m.evac_flags,
		                           m.peer) :
		    ctl_encode_evacuate(again, sizeof(again), m.seq, m.guest, m.evac_flags);
		break;
	case CTL_PROGRESS:
		n = ctl_encode_progress(again, sizeof(again), m.seq, m.guest, m.phase, m.done, m.total);
		break;
	case CTL_CHECK_REPLY: {
		char detail[CTL_CHECK_DETAIL_MAX + 1];
		if (m.payload_len > CTL_CHECK_DETAIL_MAX)
			abort();
		memcpy(detail, m.payload, m.payload_len);
		detail[m.payload_len] = 0;
		n = ctl_encode_check_detail(again, sizeof(again), m.seq, m.reasons, detail);
		break;
	}
	default:
		n = ctl_encode_guest_req(again, sizeof(again), m.type, m.seq, m.guest);
		break;
	}
	if (n < 0 || (size_t)n != size || memcmp(again, data, size) != 0)
		abort();
	return 0;
}
