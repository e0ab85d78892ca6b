"""experiments: test loss surfaces, TOML configs, a runner, records and plots."""

__all__: list[str] = []
