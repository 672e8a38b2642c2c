# The two commands: `make run` serves the service locally, `make test` runs every check.
.PHONY: run test build emulator-start emulator-stop bench load \
  build-GetConfigsFunction build-UpdateSettingsFunction build-DeleteConfigFunction \
  build-MaintenanceFunction

run:
	infra/scripts/run-local.sh

test:
	infra/scripts/test.sh

# Every function for arm64 Lambda (cargo lambda build --release --arm64), with sizes.
build:
	infra/scripts/build.sh

# `sam build` of the four functions that never seal or open a key (template.yaml:
# BuildMethod makefile): the shared library is built for size as well, which
# rust-cargolambda cannot ask for (infra/scripts/build.sh, docs/deploy.md).
build-GetConfigsFunction:
	infra/scripts/build.sh --arm64 --artifacts "$(ARTIFACTS_DIR)" get-configs
build-UpdateSettingsFunction:
	infra/scripts/build.sh --arm64 --artifacts "$(ARTIFACTS_DIR)" update-settings
build-DeleteConfigFunction:
	infra/scripts/build.sh --arm64 --artifacts "$(ARTIFACTS_DIR)" delete-config
build-MaintenanceFunction:
	infra/scripts/build.sh --arm64 --artifacts "$(ARTIFACTS_DIR)" maintenance

emulator-start:
	infra/scripts/local-aws.sh start

emulator-stop:
	infra/scripts/local-aws.sh stop

# The criterion benches, then the cold-start table of every function against the
# hello-world baseline (infra/scripts/coldstart.sh; APIKEYS_BENCH_RUNS=15 by default),
# then the proxy against a bare pass-through function (infra/scripts/proxy-bench.sh).
bench:
	cargo bench --workspace --locked
	infra/scripts/coldstart.sh
	infra/scripts/proxy-bench.sh

# The local stack under load (locust): 50 users for 60 s, figures per route, then the
# usage counts and the logs checked (infra/scripts/load.sh).
load:
	infra/scripts/load.sh
