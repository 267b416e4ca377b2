# diskrep: disk replication tied to checkpoint epochs (builtin + drbd backends).
LIB_SRCS += diskrep/diskrep.c diskrep/wire.c diskrep/stage.c diskrep/journal.c \
	diskrep/commit.c diskrep/bitmap.c diskrep/builtin.c diskrep/builtin_backup.c \
	diskrep/resync.c diskrep/drbd.c
DEPS_PKGS += libxxhash-dev
