# Makefile: PGXS build of the dwc extension.
#
#   make                 build dwc.so and dwc--$(EXTVERSION).sql
#   make install         install into the server found by pg_config
#   make installcheck    pg_regress suites against a running server (PGHOST/PGPORT/PGUSER)
#                        set up as docs/install.md says, "Checking an installation"
#   make WERROR=1        treat warnings as errors (the test command and CI do this)

EXTENSION  = dwc
EXTVERSION = 0.2.0

MODULE_big = dwc
OBJS       = src/dwc.o $(patsubst %.c,%.o,$(sort $(wildcard src/*/*.c)))

# The install script is assembled from each subsystem's SQL, a layer at a time, lowest first:
# a folder's SQL names only its own objects and those of the folders above it in this list,
# in the order src/dwc.c calls their Init (tools/layers.py, checked by test_layers.py).
# core_end.sql closes the script.
SQL_PARTS  = src/core/core.sql \
             src/core/nodes.sql \
             src/core/partitions.sql \
             src/core/templates.sql \
             src/core/markdown.sql \
             src/core/names.sql \
             src/core/hooks.sql \
             src/core/counters.sql \
             src/cond/cond.sql \
             src/security/roles.sql \
             src/security/ownership.sql \
             src/security/http_access.sql \
             src/security/crypto.sql \
             src/security/users.sql \
             src/security/apikeys.sql \
             src/security/events.sql \
             src/security/password_reset.sql \
             src/events/events.sql \
             src/queue/queue.sql \
             src/queue/manage.sql \
             src/queue/outcomes.sql \
             src/queue/health.sql \
             src/queue/progress.sql \
             src/queue/publish.sql \
             src/scheduler/scheduler.sql \
             src/scheduler/outcomes.sql \
             src/scheduler/publish.sql \
             src/audit/audit.sql \
             src/audit/collect.sql \
             src/audit/publish.sql \
             src/ai/ai.sql \
             src/chain/tables.sql \
             src/chain/generate.sql \
             src/chain/manage.sql \
             src/chain/documents.sql \
             src/chain/edit.sql \
             src/chain/public.sql \
             src/chain/publish.sql \
             src/ml/ml.sql \
             src/ml/publish.sql \
             src/recommend/recommend.sql \
             src/recommend/publish.sql \
             src/notify/tables.sql \
             src/notify/render.sql \
             src/notify/channels.sql \
             src/notify/preferences.sql \
             src/notify/send.sql \
             src/notify/public.sql \
             src/notify/deliver.sql \
             src/notify/account_mail.sql \
             src/notify/action.sql \
             src/workflow/tables.sql \
             src/workflow/check.sql \
             src/workflow/engine.sql \
             src/workflow/manage.sql \
             src/workflow/templates.sql \
             src/automation/tables.sql \
             src/automation/fire.sql \
             src/automation/shard_changes.sql \
             src/automation/check.sql \
             src/automation/outbound.sql \
             src/automation/manage.sql \
             src/automation/run.sql \
             src/automation/templates.sql \
             src/realtime/realtime.sql \
             src/metrics/metrics.sql \
             src/analytics/analytics.sql \
             src/analytics/dashboard.sql \
             src/api/api.sql \
             src/api/background.sql \
             src/api/scheduler.sql \
             src/api/workflows.sql \
             src/api/advanced.sql \
             src/api/auth.sql \
             src/api/security.sql \
             src/api/ml.sql \
             src/api/recommend.sql \
             src/api/automation.sql \
             src/api/ai_workflows.sql \
             src/api/notifications.sql \
             src/api/password_reset.sql \
             src/api/metrics.sql \
             src/api/analytics.sql \
             src/api/setup.sql \
             src/api/http.sql \
             src/core/core_end.sql

# Upgrade scripts are upgrade/*.sql.in with "-- @include <file>" lines replaced by the
# file (a subsystem new in a release, whole) and "-- @function <file> <name>" lines by that
# function's definition there (a changed body), by tools/upgrade.awk.
UPGRADES   = $(patsubst upgrade/%.in,%,$(wildcard upgrade/$(EXTENSION)--*--*.sql.in))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(UPGRADES)
DATA       = $(wildcard upgrade/$(EXTENSION)--*.sql)

PG_CPPFLAGS = -Isrc -DDWC_VERSION=\"$(EXTVERSION)\" $(shell pkg-config --cflags libcurl json-c hiredis)
PG_CFLAGS   = -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
ifeq ($(WERROR),1)
PG_CFLAGS  += -Werror
endif
SHLIB_LINK  = $(shell pkg-config --libs libcurl json-c libwebsockets libcmark hiredis) -lopenblas -lcrypto -largon2

REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=$(EXTENSION)

EXTRA_CLEAN = results regression.diffs regression.out

# No LLVM bitcode: the JIT gains nothing from inlining dwc's functions, and the bitcode
# compile would not see PG_CFLAGS.
override with_llvm := no

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS) Makefile
	{ printf '%s\n' '-- dwc $(EXTVERSION) install script, assembled from the files named below.'; \
	  printf '%s\n' '\echo Use "CREATE EXTENSION dwc" to load this file. \quit'; \
	  for f in $(SQL_PARTS); do printf '\n-- ---- %s ----\n' "$$f"; cat $$f; done; } > $@

$(UPGRADES): %: upgrade/%.in $(SQL_PARTS) tools/upgrade.awk Makefile
	awk -f tools/upgrade.awk $< > $@

$(OBJS): $(wildcard src/*/*.h)

# The ML core's inner loops over independent rows (distances, gradients) are what the
# vectoriser is for; at -O2 GCC only vectorises loops of known trip counts. Not the trees:
# their loops are dominated by data-dependent indexing, and -O3 measured 15% slower.
$(patsubst %.c,%.o,$(filter-out src/ml/tree.c,$(wildcard src/ml/*.c))): override CFLAGS += -O3

# DWC_VERSION and the flags live here: a changed Makefile rebuilds every object
$(OBJS): Makefile
