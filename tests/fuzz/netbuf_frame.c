/* libFuzzer target: the parsers of the netbuf test client (nb_recv), which
 * read whatever arrives on its UDP and packet sockets. */
#include <stddef.h>
#include <stdint.h>

#include "../netbuf/nb_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[6] = { 0x02, 0, 0, 0x77, 0x01, 0x02 };
	enum nb_kind kind;
	uint32_t seq;
	uint64_t stamp;

	if (nb_payload_parse(data, size, &kind, &seq, &stamp) == 0 &&
	    kind != NB_V4 && kind != NB_V6)
		__builtin_trap();
	(void)nb_arp_parse(data, size, mac, &seq);
	return 0;
}
