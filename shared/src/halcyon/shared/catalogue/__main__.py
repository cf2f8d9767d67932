"""``python -m halcyon.shared.catalogue [docs | snapshot docs]``."""

import sys

from halcyon.shared.catalogue import main

main(sys.argv[1:])
