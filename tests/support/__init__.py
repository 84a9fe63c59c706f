"""Support shared by every test tier and the benchmarks (which import it, never test modules)."""
