# bizosaas-ops. Two commands set everything up on a fresh machine:
#   make demo   the whole stack on a local container acting as the VPS
#   make test   lint, unit and bad-input tests, then every Molecule scenario
# Everything they need (venv, docker.io, debootstrap, dockerd, images, registry) is installed
# by the targets below, idempotently, with a visible step per stage.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export BIZOSAAS_CACHE ?= /var/cache/bizosaas-ops
ENV ?= staging
SCENARIOS ?=
PLATFORM ?=
# Everyday operations run against inventories/$(ENV). Examples:
#   make deploy PLATFORM=coreldove ENV=production      make history ENV=local
INVENTORY ?= inventories/$(ENV)
TAGS ?=
# The vault password: $ANSIBLE_VAULT_PASSWORD_FILE if set, else the inventory's generated .vault-pass.
VAULT_ARGS = $(if $(ANSIBLE_VAULT_PASSWORD_FILE),,$(if $(wildcard $(INVENTORY)/.vault-pass),--vault-password-file $(INVENTORY)/.vault-pass))

.PHONY: help bootstrap venv host images lint unit badinput newcomer molecule test test-site demo demo-clean secrets webhooks \
        bench bench-backup clean deploy plan history rollback backup backups restore restore-drill

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

bootstrap: ## venv + docker.io + debootstrap + dockerd (idempotent)
	@bash tests/harness/bootstrap.sh

venv: ## Python virtualenv from requirements.txt
	@bash tests/harness/bootstrap.sh venv

host: ## docker.io and debootstrap via apt, dockerd started
	@bash tests/harness/bootstrap.sh host

images: bootstrap ## Build the offline image kit (cached) and push it to the local registry
	@$(PY) images/kit.py all

lint: venv ## yamllint, ansible-lint (production profile), ruff, shellcheck
	@$(PY) tests/harness/stages.py lint

unit: venv ## pytest: plugin unit tests
	@$(PY) tests/harness/stages.py unit

badinput: images ## pytest: the bad-input suite against a throwaway VPS container
	@$(PY) tests/harness/stages.py badinput

newcomer: images ## The set-up of `make demo`/`make test` on a bare container (no leftovers of this machine)
	@$(PY) tests/harness/stages.py newcomer

molecule: images ## Every Molecule scenario (SCENARIOS="a b" for a subset)
	@$(PY) tests/harness/stages.py molecule $(SCENARIOS)

test: bootstrap ## Everything CI runs, with a table of each stage's wall time
	@$(PY) tests/harness/stages.py all

test-site: images ## Only the `site` scenario (the whole site.yml in one VPS container; `make test` runs it too)
	@$(PY) tests/harness/stages.py molecule site

demo: bootstrap ## The whole stack on a local container VPS (inventories/local)
	@$(PY) tests/harness/demo.py up

demo-clean: ## Remove the demo VPS container (keeps its volumes unless PURGE=1)
	@$(PY) tests/harness/demo.py down $(if $(PURGE),--purge)

secrets: venv ## Generate an encrypted vault for a new environment: make secrets ENV=staging
	@$(PY) -m tests.harness.secrets inventories/$(ENV)

bench: bootstrap ## Benchmarks that print ratios (bench/README.md): the platforms, then the backups
	@$(PY) bench/run.py
	@$(PY) bench/backup.py

bench-backup: bootstrap ## Only the backup benchmark (about 1 GiB of rows: backup, 1 % changed, restore)
	@$(PY) bench/backup.py

deploy: venv ## Redeploy one platform and nothing else: make deploy PLATFORM=coreldove [ENV=production]
	@test -n "$(PLATFORM)" || { echo "PLATFORM is required, e.g. make deploy PLATFORM=coreldove"; exit 2; }
	ansible-playbook -i $(INVENTORY) $(VAULT_ARGS) playbooks/platform.yml -e platform=$(PLATFORM)

plan: venv ## What site.yml would change, summarised per role (check mode + diff): [TAGS=coreldove]
	ansible-playbook -i $(INVENTORY) $(VAULT_ARGS) playbooks/plan.yml $(if $(TAGS),-e plan_tags=$(TAGS))

history: venv ## The deploy history kept on the host: [PLATFORM=coreldove]
	ansible-playbook -i $(INVENTORY) $(VAULT_ARGS) playbooks/history.yml $(if $(PLATFORM),-e platform=$(PLATFORM))

webhooks: venv ## Every platform's Dokploy deploy webhook (SECRET: whoever has one can redeploy): [ENV=production]
	ansible-playbook -i $(INVENTORY) $(VAULT_ARGS) playbooks/webhooks.yml

rollback: venv ## Return a platform to its previous image set: make rollback PLATFORM=coreldove
	@test -n "$(PLATFORM)" || { echo "PLATFORM is required, e.g. make rollback PLATFORM=coreldove"; exit 2; }
	ansible-playbook -i $(INVENTORY) $(VAULT_ARGS) playbooks/rollback.yml -e platform=$(PLATFORM)

clean: ## Remove local caches (not the image cache or the registry)
	rm -rf .cache .pytest_cache .ruff_cache

backup: venv ## Back up now into every repository: make backup [PLATFORM=coreldove] [ENV=production]
	ansible-playbook -i $(INVENTORY) $(VAULT_ARGS) playbooks/backup.yml -e op=run $(if $(PLATFORM),-e platform=$(PLATFORM))

backups: venv ## List the snapshots in every repository: make backups [PLATFORM=coreldove]
	ansible-playbook -i $(INVENTORY) $(VAULT_ARGS) playbooks/backup.yml -e op=list $(if $(PLATFORM),-e platform=$(PLATFORM))

restore: venv ## Restore a platform: make restore PLATFORM=coreldove [SNAPSHOT=id] [CONFIRM=overwrite-<db>]; TARGET=all: everything
	@test -n "$(PLATFORM)$(TARGET)" || { echo "PLATFORM (or TARGET=all) is required, e.g. make restore PLATFORM=coreldove"; exit 2; }
	ansible-playbook -i $(INVENTORY) $(VAULT_ARGS) playbooks/restore.yml $(if $(PLATFORM),-e platform=$(PLATFORM)) \
	  $(if $(TARGET),-e target=$(TARGET)) $(if $(SNAPSHOT),-e snapshot=$(SNAPSHOT)) $(if $(CONFIRM),-e confirm=$(CONFIRM)) \
	  $(if $(REPOSITORY),-e repository=$(REPOSITORY)) $(if $(FROM_HOST),-e from_host=$(FROM_HOST))

restore-drill: venv ## Restore the latest snapshot into scratch Postgres/Redis and compare: [SNAPSHOT=id]
	ansible-playbook -i $(INVENTORY) $(VAULT_ARGS) playbooks/restore_drill.yml $(if $(SNAPSHOT),-e snapshot=$(SNAPSHOT))
