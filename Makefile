# The two commands: `make run` serves the service locally, `make test` runs every check.
.PHONY: run test emulator-start emulator-stop bench

run:
	infra/run-local.sh

test:
	infra/test.sh

emulator-start:
	infra/local-aws.sh start

emulator-stop:
	infra/local-aws.sh stop

bench:
	cargo bench --workspace --locked
