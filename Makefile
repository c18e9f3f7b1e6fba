# The two commands of the README:  make book  |  make test   (and, while you edit:  make check)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done

.PHONY: setup book test check format bench clean pdf

# Every CSMSASR_* variable is a path (csmsasr_utils/settings.py is their one table; a test checks this
# list against it). They may be given relative to where make runs; notebooks execute in notebooks/,
# so they are made absolute here (an unset variable stays empty, which means unset).
SETTINGS := CSMSASR_PUBLIC_DIR CSMSASR_CACHE_DIR CSMSASR_FEATURES CSMSASR_AUDIO_DIR \
            CSMSASR_BERT_DIR CSMSASR_MSA_RESULTS CSMSASR_ASR_TRANSCRIPTS
abs_or_empty = $(if $(strip $(1)),$(abspath $(strip $(1))))
$(foreach v,$(SETTINGS),$(eval export $(v) := $(call abs_or_empty,$($(v)))))

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml package-lock.json scripts/setup.sh
	bash scripts/setup.sh
	touch $@

# Build the book into _build/html, executing every notebook (cached in _build/.jupyter_cache).
# The cache is dropped when the data behind it changes (CSMSASR_FEATURES, public metadata …).
book: setup
	@mkdir -p _build; fp="$$($(VENV)/bin/csmsasr data fingerprint)"; \
	if [ "$$fp" != "$$(cat _build/.data-fingerprint 2>/dev/null)" ]; then \
	  echo "data changed: re-executing every notebook"; \
	  rm -rf _build/.jupyter_cache _build/.doctrees _build/jupyter_execute; fi; \
	echo "$$fp" > _build/.data-fingerprint
	$(VENV)/bin/jupyter-book build . -n -W --keep-going

# The book as one PDF, _build/pdf/csmsasr-book.pdf: the pages of `make book` (its execution cache,
# so nothing is executed again) printed by headless Chromium, with a title page, contents, page
# numbers and an outline (scripts/make_pdf.py).
pdf: book
	$(PY) scripts/make_pdf.py --html _build/html --output _build/pdf/csmsasr-book.pdf

# Unit tests and the book built from scratch (see tests/test_book.py).
test: setup
	$(PY) -m pytest

# The loop of minutes while editing: lint, format check, and every test but the book builds and the
# slow ones (see CONTRIBUTING.md). `make format` applies the formatter and the safe lint fixes.
check: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -m "not book and not slow" -q

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(PY) benchmarks/bench_load.py
	$(PY) benchmarks/bench_features.py
	$(PY) benchmarks/bench_asr.py
	$(PY) benchmarks/bench_msa.py
	$(PY) benchmarks/bench_encoders.py
	$(PY) benchmarks/bench_book.py

clean:
	rm -rf _build
