/*
 * iptables/ip6tables rules of the nfqueue backend, run as programs with an
 * argv (no shell).  The nft `queue` expression is missing on some kernels,
 * while iptables-nft's NFQUEUE target (xt compat) works everywhere.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netbuf/netbuf.h"
#include "netbuf/nfq_rules.h"

extern char **environ;

#define NB_TAG_MAX 20   /* chain names are at most 28 characters */

static const char *const tools[] = { "iptables", "ip6tables" };

/* Names become argv words and chain names: keep them short and plain. */
static int name_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && s[i] != '-' && s[i] != '_' &&
		    s[i] != '.')
			return 0;
	return 1;
}

/* Refuse names that could not be a chain/interface name before any rule runs. */
int nfq_rules_check(const char *ifname, const char *tag, struct remus_err *err)
{
	if (!name_ok(ifname, 15))
		return remus_err_set(err, NETBUF_ECONFIG,
				     "config: ifname '%s' is not an interface name", ifname ? ifname : "");
	if (!name_ok(tag, NB_TAG_MAX))
		return remus_err_set(err, NETBUF_ECONFIG,
				     "config: tag '%s' must be 1-%d of [A-Za-z0-9._-]",
				     tag ? tag : "", NB_TAG_MAX);
	return 0;
}

/* Run one tool invocation; its stderr (first line) goes into err on failure.
 * Returns 0, 1 if the tool said no (exit status != 0), or -errno. */
static int run_tool(char *const argv[], struct remus_err *err)
{
	posix_spawn_file_actions_t fa;
	char msg[256] = "";
	int pfd[2], status, rc;
	pid_t pid;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return remus_err_sys(err, errno, "rules: pipe");
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc) {
		close(pfd[0]);
		return remus_err_sys(err, rc, "rules: cannot run %s", argv[0]);
	}
	n = read(pfd[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return remus_err_sys(err, errno, "rules: waitpid %s", argv[0]);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	remus_err_set(err, NETBUF_EBACKEND, "rules: %s %s %s failed: %s",
		      argv[0], argv[3], argv[4], msg);
	return 1;
}

/* Remove one family's rules; returns 0 when its chain no longer exists. */
static int remove_family(const char *tool, const char *ifname, const char *chain,
			 struct remus_err *err)
{
	char *del[] = { (char *)tool, "-w", "-tmangle", "-D", "PREROUTING", "-i",
			(char *)ifname, "-j", (char *)chain, NULL };
	char *flush[] = { (char *)tool, "-w", "-tmangle", "-F", (char *)chain, NULL };
	char *drop[] = { (char *)tool, "-w", "-tmangle", "-X", (char *)chain, NULL };
	char *list[] = { (char *)tool, "-w", "-tmangle", "-S", (char *)chain, NULL };
	struct remus_err scratch;
	int rc = 0;

	for (int i = 0; i < 16; i++) {   /* every duplicate jump, bounded */
		rc = run_tool(del, &scratch);
		if (rc)
			break;
	}
	if (rc < 0)
		return remus_err_set(err, rc, "%s", scratch.msg);
	run_tool(flush, &scratch);
	run_tool(drop, &scratch);
	rc = run_tool(list, &scratch);
	if (rc < 0)
		return remus_err_set(err, rc, "%s", scratch.msg);
	if (rc == 0)
		return remus_err_set(err, NETBUF_EBACKEND,
				     "rules: %s chain %s still present after removal", tool, chain);
	return 0;
}

/* Both families; the first failure is reported, both are attempted. */
int nfq_rules_remove(const char *ifname, const char *tag, struct remus_err *err)
{
	char chain[32];
	int rc = 0;

	if (nfq_rules_check(ifname, tag, err) < 0)
		return err->code;
	snprintf(chain, sizeof(chain), "RNB-%s", tag);
	for (size_t t = 0; t < 2; t++) {
		int r = remove_family(tools[t], ifname, chain, err);

		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

/* New chain with the NFQUEUE verdict, then the jump from PREROUTING. */
static int install_family(const char *tool, const char *ifname, const char *chain,
			  const char *qnum, struct remus_err *err)
{
	char *mk[] = { (char *)tool, "-w", "-tmangle", "-N", (char *)chain, NULL };
	char *q[] = { (char *)tool, "-w", "-tmangle", "-A", (char *)chain,
		      "-j", "NFQUEUE", "--queue-num", (char *)qnum, NULL };
	char *jump[] = { (char *)tool, "-w", "-tmangle", "-I", "PREROUTING",
			 "-i", (char *)ifname, "-j", (char *)chain, NULL };
	int rc;

	if ((rc = run_tool(mk, err)) || (rc = run_tool(q, err)) ||
	    (rc = run_tool(jump, err)))
		return rc < 0 ? rc : NETBUF_EBACKEND;
	return 0;
}

/* Idempotent: leftovers of the tag go first; a half install is rolled back. */
int nfq_rules_install(const char *ifname, const char *tag, uint16_t queue_num,
		      struct remus_err *err)
{
	char chain[32], qnum[8];
	struct remus_err scratch;
	int rc;

	rc = nfq_rules_remove(ifname, tag, err);
	if (rc < 0)
		return rc;
	snprintf(chain, sizeof(chain), "RNB-%s", tag);
	snprintf(qnum, sizeof(qnum), "%u", (unsigned)queue_num);
	for (size_t t = 0; t < 2; t++) {
		rc = install_family(tools[t], ifname, chain, qnum, err);
		if (rc < 0) {
			nfq_rules_remove(ifname, tag, &scratch);   /* nothing half-applied */
			return rc;
		}
	}
	return 0;
}
