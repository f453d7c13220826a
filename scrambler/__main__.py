import sys

try:
    from scrambler.cli.main import main

    code = main()
except KeyboardInterrupt:  # Ctrl-C while importing or parsing, before a command's own handler is in place
    print("scrambler: interrupted", file=sys.stderr)
    code = 130
sys.exit(code)
