/* Chatty guest: prints numbered lines carrying a terminal escape sequence
 * and a carriage return, as fast as it can, forever.  Against a console
 * nobody reads it fills any buffer; on a terminal or log the sequences
 * must arrive escaped. */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	(void)base; (void)bytes;
	for (uint64_t i = 0;; i++)
		rt_putnum("chatty \x1b[31mred\x1b[0m\r line ", i);
}
