#!/usr/bin/env bash
# The short version of `make stress`: a few runs killed at random moments.
STRESS_RUNS=${STRESS_RUNS:-8} exec bash "$(dirname "$0")/../stress.sh"
