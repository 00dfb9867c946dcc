import sys

from selfsynth.cli import main

sys.exit(main())
