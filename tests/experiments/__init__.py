"""Tests of experiments: configs, problems, the runner, records, plots and the CLI."""
