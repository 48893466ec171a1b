# The two commands of the README:
#   make run   — set up, index fixtures/docs and serve the API and page on 127.0.0.1:8080
#   make test  — set up and run every test
# Both are idempotent; setup skips what is already built and verified.

SHIRABE_DATA_DIR ?= $(CURDIR)/.data
export SHIRABE_DATA_DIR
export SHIRABE_USERS_FILE ?= $(CURDIR)/fixtures/users.toml

.PHONY: setup run test index

setup:
	scripts/setup.sh

index: setup
	target/release/shirabe-indexer --report $(SHIRABE_DATA_DIR)/last-run.json fixtures/docs > /dev/null

run: index
	target/release/shirabe serve

test: setup
	scripts/test.sh
