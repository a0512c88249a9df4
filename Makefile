# Harken's vocabulary: `make run` brings the site up, `make test` runs the whole suite.
# Everything installs into .venv on first use; later runs reuse it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PORT ?= 8000
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt 2>/dev/null | sha1sum | cut -c1-12)

.PHONY: run test venv lint format bench check clean-test

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Harken needs Python 3.11 (Django 5.2 LTS, torch 2.9.1 wheels); found " + sys.version.split()[0]'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade --quiet pip
	# torch/torchaudio first and alone: they are the large download, and torchaudio must match.
	$(PIP) install --quiet torch==2.9.1 torchaudio==2.9.1
	$(PIP) install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py harken_bootstrap --port $(PORT)
	$(PY) bin/serve.py --port $(PORT)

# Two test processes (pytest-xdist): each has its own test database (pytest-django's _gwN
# suffix), broker key prefix, var/test/run-PID folder and free ports. TEST_WORKERS=0 runs in one.
TEST_WORKERS ?= 2
test: venv
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: venv
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

bench: venv
	$(PY) benchmarks/synthesis.py
	$(PY) benchmarks/report.py
	$(PY) benchmarks/metrics.py
