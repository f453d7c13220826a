import signal
import sys

try:
    from scrambler.cli.main import main

    code = main()
except KeyboardInterrupt:  # Ctrl-C while importing or parsing, before a command's own handler is in place
    print("scrambler: interrupted", file=sys.stderr)
    code = 130
# The command has finished (or was interrupted): a second Ctrl-C during interpreter shutdown would print a
# traceback from the thread pool's exit hooks instead of the clean message above.
signal.signal(signal.SIGINT, signal.SIG_IGN)
sys.exit(code)
