import sys

from daml.cli import main

sys.exit(main())
