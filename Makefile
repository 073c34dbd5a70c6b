# resilience: PGXS build plus the throwaway-server targets demo, test, bench
# and fuzz.
#
# Sources, regression suites, isolation specs and benchmarks are discovered from
# their directories, so adding a concern means adding files, not editing lists;
# the one list kept by hand is SQL_PARTS, because the install script must
# create objects in dependency order.

EXTENSION   = resilience
MODULE_big  = resilience
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))
# the current version's install script is built from one SQL file per concern;
# released scripts (1.0) and upgrade scripts are kept verbatim
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" resilience.control)
SQL_PARTS   = src/resilience.sql src/backoff.sql src/cursor.sql src/keyset.sql \
              src/guard.sql src/lease.sql src/retry.sql src/idempotency.sql \
              src/limit.sql src/breaker.sql src/stats.sql src/queue.sql src/cron.sql
DATA_built  = resilience--$(EXTVERSION).sql
DATA        = $(filter-out $(DATA_built),$(wildcard resilience--*.sql)) resilience--1.0.control
PGFILEDESC  = "resilience - resilient-backend helpers"

REGRESS      = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --load-extension=resilience
ISOLATION    = $(sort $(basename $(notdir $(wildcard specs/*.spec))))
ISOLATION_OPTS = --load-extension=resilience
TAP_TESTS    = $(if $(wildcard t/*.pl),1,)
# make test runs the regression suites a second time against a server without
# shared_preload_libraries (tools/harness.sh), proving that everything but the
# shared-memory features gives the same output there; these suites are left
# out of that pass, each because what it tests needs the shared memory (each
# raises 55000 there, which t/060_limits.pl and t/090_stats.pl check):
#   breaker  circuit breakers: their state is a shared-memory table
#   limit    rate limits: their state is a shared-memory table
#   stats    the monitoring counters: reads the views and metrics() throughout
REGRESS_NEEDS_PRELOAD = breaker limit stats
REGRESS_NOPRELOAD = $(filter-out $(REGRESS_NEEDS_PRELOAD),$(REGRESS))
# (a name without its sql/ file is a mistake; the TAP suites' copy has no sql/)
ifneq ($(wildcard sql/*.sql),)
$(foreach t,$(REGRESS_NEEDS_PRELOAD),$(if $(wildcard sql/$(t).sql),,\
  $(error REGRESS_NEEDS_PRELOAD names $(t), but there is no sql/$(t).sql)))
endif

EXTRA_CLEAN = tmp_check tmp_check_iso output_iso results results-nopreload log regression.diffs regression.out

# Extensions load with RTLD_GLOBAL: export only the SQL-callable entry points
# and the module's magic block and _PG_init (all declared PGDLLEXPORT by fmgr.h),
# hide everything else.  PostgreSQL 16 and later define PGDLLEXPORT this way
# themselves; 15 leaves it empty on ELF platforms.
override CPPFLAGS += -DPGDLLEXPORT='__attribute__((visibility("default")))'

PG_CONFIG ?= pg_config
PGXS := $(wildcard $(shell $(PG_CONFIG) --pgxs 2>/dev/null))
ifneq ($(PGXS),)
include $(PGXS)
# after the include: an override before it would drop the server's CFLAGS
# (-O2 and its warning flags), which Makefile.global sets
override CFLAGS += -fvisibility=hidden

# REGRESS_NOPRELOAD against a server without shared_preload_libraries (make
# test starts one); results-nopreload/ keeps their outputs and diffs apart
# from installcheck's
.PHONY: installcheck-nopreload
installcheck-nopreload:
	$(if $(strip $(REGRESS_NOPRELOAD)),$(pg_regress_installcheck) --outputdir=results-nopreload $(REGRESS_OPTS) $(REGRESS_NOPRELOAD))
else
# No server headers: a plain build cannot run, and installs nothing by itself.
all install installcheck installcheck-nopreload clean:
	@echo "$(PG_CONFIG) has no PGXS: install postgresql-server-dev-<major>, set PG_CONFIG," >&2
	@echo "or run 'make test' or 'make demo', which install what is missing" >&2
	@exit 1
endif

# the list printed, for the harness
.PHONY: regress-nopreload
regress-nopreload:
	@echo $(REGRESS_NOPRELOAD)

# every object is rebuilt when a header changes (PGXS tracks no header
# dependencies unless the server was configured with --enable-depend): an
# object built against an older enum or struct would otherwise link in
$(OBJS): $(wildcard src/*.h)

$(DATA_built): $(SQL_PARTS) resilience.control
	cat $(SQL_PARTS) > $@

.PHONY: demo test bench fuzz

# These targets run on a fresh machine: they install what is missing first
# (tools/deps.sh), then pick the newest installed server (tools/pgenv.sh).
demo test bench fuzz:
	@tools/deps.sh $@
	@tools/harness.sh $@

# make test on every supported major: the installed server, then each one
# built from a source archive in ../shared/pg (tools/test-majors.sh); CI runs it
.PHONY: test-majors
test-majors:
	@tools/test-majors.sh
