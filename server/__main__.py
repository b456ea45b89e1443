"""`python -m server` is the same as the `jmdchat` command."""

from server.cli import main

raise SystemExit(main())
