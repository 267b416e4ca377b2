# Build-system checks owned by the foundation: install layout, deps script.
INTEG_TESTS += tests/integration/build_install.sh tests/integration/build_deps.sh \
	tests/integration/cli_help.sh tests/integration/log_journal.sh \
	tests/integration/build_runner.sh

# Protection that lasts (issue 17): failover, re-protect to the restarted
# old primary, failover back, role reversal, under a kvstore load
# (remusd_lifecycle.sh); two-copy refusal and reprotect = auto (counter);
# an evacuation in doubt resolving itself when the backup answers.
INTEG_TESTS += tests/integration/remusd_lifecycle.sh tests/integration/remusd_reprotect_auto.sh \
	tests/integration/remusd_in_doubt_auto.sh

# Evacuation to any host (issue 17 item 4): evacuate --to a third host C,
# refusals at prepare, SIGKILL of the source or destination in perform,
# finish and confirm (remusd_evacuate_to.sh).
INTEG_TESTS += tests/integration/remusd_evacuate_to.sh
