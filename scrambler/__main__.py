import sys

from scrambler.cli.main import main

sys.exit(main())
