"""The jobs behind the command line, one module each: train, snapshot, explain, report, export (build and
serve), segments, lookalike, journey and the demo. Each is a short outline of calls into the package returning a typed
result; the CLI parses, calls a job and prints."""
