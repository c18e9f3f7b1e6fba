# The two commands of the README:  make book  |  make test
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-done

.PHONY: setup book test bench clean

# Data paths may be given relative to where make runs; notebooks execute in notebooks/,
# so they are made absolute here (an unset variable stays empty, which means unset).
abs_or_empty = $(if $(strip $(1)),$(abspath $(strip $(1))))
export CSMSASR_PUBLIC_DIR := $(call abs_or_empty,$(CSMSASR_PUBLIC_DIR))
export CSMSASR_FEATURES   := $(call abs_or_empty,$(CSMSASR_FEATURES))
export CSMSASR_CACHE_DIR  := $(call abs_or_empty,$(CSMSASR_CACHE_DIR))
export CSMSASR_AUDIO_DIR  := $(call abs_or_empty,$(CSMSASR_AUDIO_DIR))

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

# Unit tests and the book built from scratch (see tests/test_book.py).
test: setup
	$(PY) -m pytest

bench: setup
	$(PY) benchmarks/bench_load.py
	$(PY) benchmarks/bench_features.py
	$(PY) benchmarks/bench_asr.py
	$(PY) benchmarks/bench_msa.py
	$(PY) benchmarks/bench_encoders.py
	$(PY) benchmarks/bench_book.py

clean:
	rm -rf _build
