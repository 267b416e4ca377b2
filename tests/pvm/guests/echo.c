/* NIC echo guest: every frame received is sent back to its sender with the
 * guest's MAC as source.  Prints "echo up" once its NIC is known. */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	static struct pvm_info info;
	static uint8_t frame[PVM_FRAME_MAX];

	(void)base; (void)bytes;
	hc3(PVM_HC_INFO, (uint64_t)&info, sizeof(info), 0);
	rt_puts("echo up\n");
	for (;;) {
		if (!(hc3(PVM_HC_WAIT, ~0ULL, 0, 0) & PVM_EV_NET_RX))
			continue;
		int64_t n;
		while ((n = hc3(PVM_HC_NET_RECV, (uint64_t)frame, sizeof(frame), 0)) > 0) {
			for (int i = 0; i < 6; i++) {
				frame[i] = frame[6 + i];
				frame[6 + i] = info.mac[i];
			}
			hc3(PVM_HC_NET_SEND, (uint64_t)frame, (uint64_t)n, 0);
		}
	}
}
