/* Block device guest: writes sectors 0..15 (sector i filled with byte
 * 'A' + i), flushes, reads them back and compares; checks the error codes
 * of a request past the end and of a bad buffer.  Exits 0 if all held. */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	static struct pvm_info info;
	static uint8_t wbuf[16 * 512], rbuf[16 * 512];

	(void)base;
	hc3(PVM_HC_INFO, (uint64_t)&info, sizeof(info), 0);
	if (info.disk_sectors < 16)
		hc_exit(30);
	for (int i = 0; i < 16 * 512; i++)
		wbuf[i] = (uint8_t)('A' + i / 512);
	if (hc3(PVM_HC_BLK_WRITE, 0, (uint64_t)wbuf, 16) != 0 || hc3(PVM_HC_BLK_FLUSH, 0, 0, 0) != 0)
		hc_exit(31);
	if (hc3(PVM_HC_BLK_READ, 0, (uint64_t)rbuf, 16) != 0)
		hc_exit(32);
	for (int i = 0; i < 16 * 512; i++)
		if (rbuf[i] != wbuf[i])
			hc_exit(33);
	if (hc3(PVM_HC_BLK_READ, info.disk_sectors - 1, (uint64_t)rbuf, 2) != -PVM_EINVAL)
		hc_exit(34);
	if (hc3(PVM_HC_BLK_READ, 0, base + bytes - 256, 1) != -PVM_EFAULT)
		hc_exit(35);
	rt_puts("disk ok\n");
	hc_exit(0);
}
