.PHONY: demo test typecheck unit bench lint install-openclaw clean build schemas

NPX := npx --no-install

node_modules: package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

## build: compile reconciler/ to dist/ (bin/clawops uses it while it is newer than every source file); refuses
## schema validators older than schemas/ (regenerate: make schemas)
build: node_modules
	$(NPX) tsx reconciler/desired/gen-schema-validators.ts --check
	rm -rf dist
	$(NPX) tsc -p tsconfig.build.json
	touch dist/.stamp

## demo: lint and render tenants-example and show what each node would get
demo: build
	./scripts/demo.sh

## test: typecheck, then the whole vitest suite (unit + real git + real sshd fleet)
test: node_modules
	$(NPX) tsc --noEmit -p .
	$(NPX) vitest run

## schemas: regenerate reconciler/desired/schema-validators.ts (ajv standalone) after editing schemas/*.json or upgrading ajv
schemas: node_modules
	$(NPX) tsx reconciler/desired/gen-schema-validators.ts

typecheck: node_modules
	$(NPX) tsc --noEmit -p .

lint: node_modules
	./bin/clawops lint tenants-example

## bench: timing scripts (not tests); Ansible is the peer of diff and apply when ansible-playbook is installed
NO_ANSIBLE = $(if $(shell command -v ansible-playbook 2>/dev/null),,--no-ansible)
bench: build
	$(NPX) tsx bench/startup-bench.ts
	$(NPX) tsx bench/desired-bench.ts
	$(NPX) tsx bench/plan-bench.ts
	$(NPX) tsx bench/scale-bench.ts
	$(NPX) tsx bench/probe-bench.ts
	$(NPX) tsx bench/notifier-bench.ts
	$(NPX) tsx bench/diff-bench.ts $(NO_ANSIBLE)
	$(NPX) tsx bench/apply-bench.ts --runs 3 $(NO_ANSIBLE)
	$(NPX) tsx bench/controller-bench.ts
	$(NPX) tsx bench/controller-bench.ts --growth

install-openclaw:
	bash scripts/install-openclaw-cache.sh

clean:
	rm -rf dist
