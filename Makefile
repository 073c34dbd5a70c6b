# resilience: PGXS build plus the throwaway-server targets demo, test and bench.
#
# Sources, regression suites, isolation specs and benchmarks are discovered from
# their directories, so adding a concern means adding files, not editing lists.

EXTENSION   = resilience
MODULE_big  = resilience
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
DATA        = resilience--1.0.sql
PGFILEDESC  = "resilience - resilient-backend helpers"

REGRESS      = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=resilience
ISOLATION    = $(sort $(basename $(notdir $(wildcard specs/*.spec))))
ISOLATION_OPTS = --load-extension=resilience
TAP_TESTS    = $(if $(wildcard t/*.pl),1,)

EXTRA_CLEAN = tmp_check tmp_check_iso output_iso results log regression.diffs regression.out

# Debian keeps one pg_config per major version; prefer the newest server's.
PG_CONFIG ?= $(firstword $(shell ls -d /usr/lib/postgresql/*/bin/pg_config 2>/dev/null | sort -rV) pg_config)
PGXS := $(wildcard $(shell $(PG_CONFIG) --pgxs 2>/dev/null))
ifeq ($(PGXS),)
# No server headers yet: only the throwaway-server targets can run, and they
# install what is missing first (tools/deps.sh).
.DEFAULT_GOAL := all
all installcheck install clean:
	@tools/deps.sh
	@$(MAKE) $@
else
include $(PGXS)
endif

.PHONY: demo test bench

demo:
	@tools/deps.sh
	@tools/harness.sh demo

test:
	@tools/deps.sh
	@tools/harness.sh test

bench:
	@tools/deps.sh
	@tools/harness.sh bench
